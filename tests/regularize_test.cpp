// tests/regularize_test.cpp — descent/regularize.h: gradient norms and clipping, the non-finite
// policy, L1/L2 penalties, early stopping with best-weight restore, and the [regularization] /
// [early_stopping] config sections with their errors.
//
// How to add a case: a config error is a row {TOML of the section, part of the message} in
// kRegularizationErrors or kEarlyStoppingErrors; anything else is a TEST in the section of its part.
// Expected values are computed here from the definitions (loops in double), never copied from
// descent's output.
#include <gtest/gtest.h>

#include "error_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "descent/config.h"
#include "descent/nn.h"
#include "descent/optim.h"
#include "descent/regularize.h"

using namespace descent;
namespace optim = descent::optim;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Parameters with gradients drawn from a seeded normal, scaled by `scale`.
std::vector<Tensor> params_with_grads(double scale, DType dtype = DType::F64) {
  Generator gen(3);
  std::vector<Tensor> ps;
  for (const Shape& s : {Shape{5, 7}, Shape{7}, Shape{3, 5}, Shape{100000}}) {
    ps.push_back(zeros(s, dtype).requires_grad_());
    ps.back().set_grad(normal(s, 0.0, scale, gen, dtype));
  }
  ps.push_back(zeros({2}, dtype).requires_grad_());  // no gradient: counts as zero
  return ps;
}

std::vector<double> all_grads(const std::vector<Tensor>& ps) {
  std::vector<double> out;
  for (const auto& p : ps)
    if (p.grad().defined())
      for (double v : p.grad().to_vector()) out.push_back(v);
  return out;
}

double p_norm(const std::vector<double>& v, double p) {
  double acc = 0.0;
  for (double x : v) acc = std::isinf(p) ? std::max(acc, std::abs(x)) : acc + std::pow(std::abs(x), p);
  return std::isinf(p) ? acc : std::pow(acc, 1.0 / p);
}

// ---- Norms and clipping ---------------------------------------------------------------------------

TEST(GradNorm, EqualsThePNormOfAllGradientsTogether) {
  auto ps = params_with_grads(1.0);
  const auto g = all_grads(ps);
  for (double p : {2.0, 1.0, 3.0, kInf}) {
    SCOPED_TRACE(p);
    EXPECT_NEAR(optim::grad_norm(ps, p), p_norm(g, p), 1e-10 * p_norm(g, p));
  }
  EXPECT_ERROR_HAS(optim::grad_norm(ps, 0.0), "norm_type must be > 0");
}

TEST(ClipGradNorm, BoundsTheGlobalNormAndKeepsTheDirection) {
  for (DType dtype : {DType::F64, DType::F32}) {
    for (double p : {2.0, 1.0, kInf}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " p=" + std::to_string(p));
      auto ps = params_with_grads(3.0, dtype);
      const auto before = all_grads(ps);
      const double expected = p_norm(before, p);
      const double max_norm = 0.1 * expected;
      const double returned = optim::clip_grad_norm_(ps, max_norm, {.norm_type = p});
      EXPECT_NEAR(returned, expected, 1e-6 * expected);
      const auto after = all_grads(ps);
      const double tol = dtype == DType::F64 ? 1e-12 : 1e-6;
      EXPECT_LE(p_norm(after, p), max_norm * (1 + tol));
      EXPECT_NEAR(p_norm(after, p), max_norm, tol * max_norm + 1e-6 * max_norm);  // torch's +1e-6 in the divisor
      const double coef = max_norm / (expected + 1e-6);
      for (size_t i = 0; i < before.size(); i += 997) EXPECT_NEAR(after[i], before[i] * coef, tol * std::abs(before[i]) + 1e-30);
    }
  }
}

TEST(ClipGradNorm, LeavesGradientsBelowTheLimitUntouched) {
  auto ps = params_with_grads(1.0);
  const auto before = all_grads(ps);
  const double norm = optim::clip_grad_norm_(ps, 2.0 * p_norm(before, 2.0));
  EXPECT_NEAR(norm, p_norm(before, 2.0), 1e-10 * norm);
  EXPECT_EQ(all_grads(ps), before);
  EXPECT_ERROR_HAS(optim::clip_grad_norm_(ps, -1.0), "max_norm must be >= 0");
}

TEST(ClipGradNorm, NonFiniteNormIsReportedSkippedOrAnError) {
  for (double bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    auto ps = params_with_grads(1.0);
    Tensor g = ps[1].grad();
    g.data<double>()[3] = bad;
    const auto before = all_grads(ps);
    const double norm = optim::clip_grad_norm_(ps, 1e-3, {.nonfinite = optim::NonFinite::Skip});
    EXPECT_FALSE(std::isfinite(norm));
    EXPECT_EQ(std::isnan(norm), std::isnan(bad));
    const auto after = all_grads(ps);  // untouched: compare bit patterns (NaN != NaN)
    ASSERT_EQ(after.size(), before.size());
    EXPECT_EQ(std::memcmp(after.data(), before.data(), after.size() * sizeof(double)), 0);
    EXPECT_ERROR_HAS(optim::clip_grad_norm_(ps, 1e-3, {.nonfinite = optim::NonFinite::Error}),
                     "total norm of the gradients is");
  }
}

TEST(ClipGradValue, ClampsEveryElement) {
  auto ps = params_with_grads(2.0);
  ps[0].grad().data<double>()[0] = kNaN;
  const auto before = all_grads(ps);
  optim::clip_grad_value_(ps, 0.5);
  const auto after = all_grads(ps);
  EXPECT_TRUE(std::isnan(after[0]));  // as torch.clamp: NaN stays visible
  size_t clipped = 0;
  for (size_t i = 1; i < before.size(); ++i) {
    EXPECT_EQ(after[i], std::clamp(before[i], -0.5, 0.5));
    clipped += std::abs(before[i]) > 0.5;
  }
  EXPECT_GT(clipped, before.size() / 2);  // with sigma 2 most elements are outside [-0.5, 0.5]
  EXPECT_ERROR_HAS(optim::clip_grad_value_(ps, -1.0), "clip_value must be >= 0");
}

TEST(ClipGradients, ValueThenNormWithTheNonFinitePolicy) {
  auto ps = params_with_grads(2.0);
  const auto before = all_grads(ps);
  optim::RegularizationOptions reg{.clip_grad_norm = 1.0, .clip_grad_value = 0.5};
  optim::ClipResult r = optim::clip_gradients(ps, reg);
  EXPECT_TRUE(r.finite);
  EXPECT_NEAR(r.grad_norm, p_norm(before, 2.0), 1e-10 * r.grad_norm);  // measured before clipping
  std::vector<double> expected;
  for (double v : before) expected.push_back(std::clamp(v, -0.5, 0.5));
  const double coef = 1.0 / (p_norm(expected, 2.0) + 1e-6);
  const auto after = all_grads(ps);
  for (size_t i = 0; i < after.size(); ++i) ASSERT_NEAR(after[i], expected[i] * coef, 1e-12);
  // Nothing configured: only the norm is measured.
  auto qs = params_with_grads(2.0);
  EXPECT_NEAR(optim::clip_gradients(qs, {}).grad_norm, p_norm(before, 2.0), 1e-10 * r.grad_norm);
  EXPECT_EQ(all_grads(qs), before);
  // Non-finite: skip (untouched, finite = false) or error.
  qs[0].grad().data<double>()[0] = kInf;
  const auto q_before = all_grads(qs);
  r = optim::clip_gradients(qs, reg);
  EXPECT_FALSE(r.finite);
  EXPECT_TRUE(std::isinf(r.grad_norm));
  EXPECT_EQ(all_grads(qs), q_before);
  reg.nonfinite = optim::NonFinite::Error;
  EXPECT_ERROR_HAS(optim::clip_gradients(qs, reg), "nonfinite = \"skip\"");
}

// ---- Penalties ------------------------------------------------------------------------------------

TEST(Penalty, L1AndL2ValuesAndGradients) {
  auto a = from_vector({1.5, -2.0, 0.0, 0.25}, {2, 2}, DType::F64).requires_grad_();
  auto b = from_vector({-0.5, 3.0}, {2}, DType::F64).requires_grad_();
  Tensor l1 = optim::l1_penalty({a, b});
  EXPECT_EQ(l1.dim(), 0);
  EXPECT_DOUBLE_EQ(l1.item(), 1.5 + 2.0 + 0.0 + 0.25 + 0.5 + 3.0);
  l1.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{1.0, -1.0, 0.0, 1.0}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{-1.0, 1.0}));
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  Tensor l2 = optim::l2_penalty({a, b});
  EXPECT_DOUBLE_EQ(l2.item(), 2.25 + 4.0 + 0.0 + 0.0625 + 0.25 + 9.0);
  (l2 * 0.1).backward();
  const auto ga = a.grad().to_vector();
  const std::vector<double> av = {1.5, -2.0, 0.0, 0.25};
  for (size_t i = 0; i < av.size(); ++i) EXPECT_DOUBLE_EQ(ga[i], 0.2 * av[i]);
  EXPECT_EQ(optim::l1_penalty({}).item(), 0.0);
}

TEST(Penalty, AppliesToDecayedParametersOnly) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(3, 2, nn::LinearOptions{.dtype = DType::F64}));
  auto ps = optim::decayed_parameters(*net, {"bias", "norm", "1d"});
  ASSERT_EQ(ps.size(), 1u);
  double expected = 0.0;
  for (double v : std::static_pointer_cast<nn::Linear>(net->at(0))->weight.to_vector()) expected += std::abs(v);
  EXPECT_DOUBLE_EQ(optim::l1_penalty(ps).item(), expected);
}

// ---- [regularization] -----------------------------------------------------------------------------

const std::string kPrefix = "[data]\n[model]\ninput_shape = [3]\nlayers = [{ type = \"linear\", out_features = 2 }]\n"
                            "[optimizer]\nlr = 0.1\n";

Args section(const std::string& name, const std::string& body) {
  Config cfg = parse_config(kPrefix + "[" + name + "]\n" + body, "test.toml");
  return cfg.sections.count(name) ? cfg.sections.at(name) : Args("test.toml: [" + name + "]");
}

TEST(RegularizationConfig, DefaultsAndEveryKey) {
  optim::RegularizationOptions d = optim::parse_regularization(Args("none"));
  EXPECT_EQ(d.l1, 0.0);
  EXPECT_EQ(d.clip_grad_norm, 0.0);
  EXPECT_EQ(d.nonfinite, optim::NonFinite::Skip);
  EXPECT_EQ(d.exclude, (std::vector<std::string>{"bias", "norm", "1d"}));
  auto o = optim::parse_regularization(section(
      "regularization", "l1 = 1e-5\nl2 = 1e-4\nclip_grad_norm = 1\nnorm_type = inf\nclip_grad_value = 0.5\n"
                        "nonfinite = \"error\"\nexclude = []\n"));
  EXPECT_EQ(o.l1, 1e-5);
  EXPECT_EQ(o.l2, 1e-4);
  EXPECT_EQ(o.clip_grad_norm, 1.0);
  EXPECT_TRUE(std::isinf(o.norm_type));
  EXPECT_EQ(o.clip_grad_value, 0.5);
  EXPECT_EQ(o.nonfinite, optim::NonFinite::Error);
  EXPECT_TRUE(o.exclude.empty());
  EXPECT_EQ(optim::parse_regularization(section("regularization", "exclude = [\"bias\"]")).exclude,
            std::vector<std::string>{"bias"});
}

struct SectionError {
  const char* toml;
  const char* message;
};

const SectionError kRegularizationErrors[] = {
    {"l3 = 0.1", "test.toml: [regularization]: unknown key 'l3' (did you mean 'l1'?)"},
    {"clip_norm = 1.0", "unknown key 'clip_norm'"},
    {"l1 = -1e-5", "test.toml: [regularization]: 'l1' must be >= 0, got -1e-05"},
    {"l2 = \"small\"", "key 'l2' must be a number"},
    {"clip_grad_norm = -1", "'clip_grad_norm' must be >= 0"},
    {"clip_grad_value = nan", "'clip_grad_value' must be >= 0"},
    {"norm_type = 0", "'norm_type' must be > 0"},
    {"nonfinite = \"ignore\"", "'nonfinite' must be \"skip\" or \"error\", got \"ignore\""},
    {"exclude = [1]", "key 'exclude' must be a string or an array of strings"},
};

TEST(RegularizationConfig, EveryErrorNamesTheProblem) {
  for (const auto& e : kRegularizationErrors) {
    SCOPED_TRACE(e.toml);
    EXPECT_ERROR_HAS(optim::parse_regularization(section("regularization", e.toml)), e.message);
  }
}

// ---- Early stopping -------------------------------------------------------------------------------

// One parameter and one buffer whose values tell which evaluation they come from.
class Tagged : public nn::Module {
 public:
  Tagged() {
    w = zeros({3}, DType::F64).requires_grad_();
    count = zeros({1}, DType::F64);
    register_parameter("w", &w);
    register_buffer("count", &count);
  }
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Tagged"; }
  void tag(double v) {
    w.fill_(v);
    count.fill_(10 * v);
  }
  Tensor w, count;
};

TEST(EarlyStopping, StopsAfterPatienceAndRestoresTheBestWeights) {
  Tagged m;
  optim::EarlyStopping es({.patience = 3, .min_delta = 0.005});
  // improvements at 0 (1.0), 1 (0.8), 3 (0.79 < 0.8 − 0.005); 0.787 at 4 is within min_delta.
  const std::vector<double> losses = {1.0, 0.8, 0.85, 0.79, 0.787, 0.9, 0.81, 0.5};
  const std::vector<bool> improved = {true, true, false, true, false, false, false};
  int stopped_at = -1;
  for (int e = 0; e < static_cast<int>(losses.size()); ++e) {
    m.tag(e);
    const bool stop = es.step(losses[e], m);
    EXPECT_EQ(es.improved(), improved[e]) << e;
    if (stop) {
      stopped_at = e;
      break;
    }
  }
  EXPECT_EQ(stopped_at, 6);  // three evaluations (4, 5, 6) after the best at 3
  EXPECT_TRUE(es.should_stop());
  EXPECT_EQ(es.best(), 0.79);
  EXPECT_EQ(es.best_index(), 3);
  EXPECT_EQ(es.wait(), 3);
  EXPECT_EQ(m.w.to_vector(), std::vector<double>(3, 6.0));
  EXPECT_TRUE(es.restore_best(m));
  EXPECT_EQ(m.w.to_vector(), std::vector<double>(3, 3.0));
  EXPECT_EQ(m.count.to_vector(), std::vector<double>{30.0});  // buffers too (BN running stats)
  EXPECT_TRUE(m.w.requires_grad());
}

TEST(EarlyStopping, MaxModeNaNAndNoCopy) {
  Tagged m;
  optim::EarlyStopping es({.mode = optim::StopMode::Max, .patience = 2, .restore_best = false});
  EXPECT_FALSE(es.step(0.5, m));
  EXPECT_TRUE(es.improved());
  EXPECT_FALSE(es.step(kNaN, m));  // a NaN metric is never an improvement
  EXPECT_FALSE(es.improved());
  EXPECT_FALSE(es.step(0.7, m));
  EXPECT_TRUE(es.improved());
  EXPECT_FALSE(es.step(0.6, m));
  EXPECT_TRUE(es.step(0.7, m));  // equal is not better
  EXPECT_EQ(es.best(), 0.7);
  EXPECT_TRUE(es.best_state().empty());
  EXPECT_FALSE(es.restore_best(m));
  EXPECT_ERROR_HAS(optim::EarlyStopping({.patience = 0}), "patience must be >= 1");
  EXPECT_ERROR_HAS(optim::EarlyStopping({.min_delta = -1}), "min_delta must be >= 0");
}

TEST(EarlyStopping, RestoreIntoAnotherModelChecksNamesAndShapes) {
  Tagged m;
  optim::EarlyStopping es;
  m.tag(1);
  es.step(1.0, m);
  auto other = std::make_shared<nn::Sequential>();
  other->push_back(std::make_shared<nn::Linear>(2, 2));
  const auto before = std::static_pointer_cast<nn::Linear>(other->at(0))->weight.to_vector();
  EXPECT_ERROR_HAS(es.restore_best(*other), "model tensor '0.weight' [2, 2] does not match best weights 'w' [3]");
  other->push_back(std::make_shared<nn::Linear>(2, 2));
  EXPECT_ERROR_HAS(es.restore_best(*other), "the model has 4 tensors, the best weights 2");
  EXPECT_EQ(std::static_pointer_cast<nn::Linear>(other->at(0))->weight.to_vector(), before);
}

TEST(EarlyStopping, StateJsonRoundTripResumesTheSameDecision) {
  Tagged m;
  optim::EarlyStopping a({.patience = 3});
  optim::EarlyStopping fresh({.patience = 3});
  EXPECT_NE(fresh.state_json().find("\"best\":null"), std::string::npos);
  for (double v : {1.0, 0.5, 0.6}) a.step(v, m);
  optim::EarlyStopping b({.patience = 3});
  b.load_state_json(a.state_json());
  b.set_best_state(a.best_state());
  EXPECT_EQ(b.best(), 0.5);
  EXPECT_EQ(b.best_index(), 1);
  EXPECT_EQ(b.evaluations(), 3);
  EXPECT_EQ(b.wait(), 1);
  EXPECT_FALSE(b.step(0.7, m));
  EXPECT_TRUE(b.step(0.7, m));  // third evaluation without improvement, as `a` would
  EXPECT_FALSE(a.step(0.7, m));
  EXPECT_TRUE(a.step(0.7, m));
  fresh.load_state_json(fresh.state_json());
  EXPECT_TRUE(std::isinf(fresh.best()));
  for (const char* bad : {"not json", "[1]", "{\"best\": 1, \"best_index\": 0, \"evaluations\": 1, \"wait\": 0}",
                          "{\"best\": \"x\", \"best_index\": 0, \"evaluations\": 1, \"wait\": 0, \"stopped\": false}",
                          "{\"best\": 1, \"best_index\": 0.5, \"evaluations\": 1, \"wait\": 0, \"stopped\": false}",
                          "{\"best\": 1, \"best_index\": 3, \"evaluations\": 1, \"wait\": 0, \"stopped\": false}"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_HAS(b.load_state_json(bad), "early stopping state");
  }
}

TEST(EarlyStoppingConfig, DefaultsAutoModeAndEveryKey) {
  auto d = optim::parse_early_stopping(Args("none"));
  EXPECT_EQ(d.metric, "val_loss");
  EXPECT_EQ(d.mode, optim::StopMode::Min);
  EXPECT_EQ(d.patience, 5);
  EXPECT_TRUE(d.restore_best);
  EXPECT_EQ(optim::parse_early_stopping(section("early_stopping", "metric = \"val_acc\"")).mode, optim::StopMode::Max);
  EXPECT_EQ(optim::parse_early_stopping(section("early_stopping", "metric = \"val_accuracy\"")).mode,
            optim::StopMode::Max);
  auto o = optim::parse_early_stopping(
      section("early_stopping", "metric = \"val_acc\"\nmode = \"min\"\npatience = 2\nmin_delta = 0.01\nrestore_best = false"));
  EXPECT_EQ(o.mode, optim::StopMode::Min);
  EXPECT_EQ(o.patience, 2);
  EXPECT_EQ(o.min_delta, 0.01);
  EXPECT_FALSE(o.restore_best);
}

const SectionError kEarlyStoppingErrors[] = {
    {"patiense = 3", "test.toml: [early_stopping]: unknown key 'patiense' (did you mean 'patience'?)"},
    {"mode = \"up\"", "'mode' must be \"min\", \"max\" or \"auto\", got \"up\""},
    {"patience = 0", "'patience' must be >= 1, got 0"},
    {"patience = 2.5", "key 'patience' must be an integer"},
    {"min_delta = -0.1", "'min_delta' must be >= 0"},
    {"metric = \"\"", "'metric' must name a metric"},
    {"restore_best = \"yes\"", "key 'restore_best' must be true or false"},
};

TEST(EarlyStoppingConfig, EveryErrorNamesTheProblem) {
  for (const auto& e : kEarlyStoppingErrors) {
    SCOPED_TRACE(e.toml);
    EXPECT_ERROR_HAS(optim::parse_early_stopping(section("early_stopping", e.toml)), e.message);
  }
}

}  // namespace
