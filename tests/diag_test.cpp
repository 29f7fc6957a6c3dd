// Tests of descent/diag.h: the module gradient check (kinks, a deliberately wrong backward),
// init-check on the deep tanh example, the non-finite detector and the guard, and the `descent
// gradcheck` / `init-check` / `report` commands. The training-health scenarios are in
// diag_health_test.cpp.
//
// To add a case: a TEST building a small float64 network (or a config in tests/data/diag/, see
// diag_test_util.h) that asserts the numbers, verdict or message text the tool must produce.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "descent/descent.h"
#include "descent/diag.h"
#include "diag_test_util.h"

using namespace descent;
using namespace descent::diag_test;

namespace {

std::shared_ptr<nn::Linear> linear64(int64_t in, int64_t out, uint64_t seed) {
  return std::make_shared<nn::Linear>(in, out, nn::LinearOptions{.dtype = DType::F64, .seed = seed});
}

// y = x ⊙ w², but backprop sees w once through a detached copy: its gradient is half the truth.
// The classic hand-written-backward bug (a forgotten factor 2).
class WrongScale : public nn::Module {
 public:
  explicit WrongScale(int64_t n) : weight(ones({n}, DType::F64).requires_grad_()) { register_parameter("weight", &weight); }
  Tensor forward(const Tensor& x) override { return x * weight * weight.detach(); }
  std::string type_name() const override { return "WrongScale"; }
  Tensor weight;
};

// log of its input: NaN for negative inputs, so the layer that produces the NaN is known.
class Log : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::log(x); }
  std::string type_name() const override { return "Log"; }
};

// sqrt(0·x): a finite forward (0) whose backward is 0.5/√0 = Inf, times 0 → NaN.
class SqrtOfZero : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::sqrt(x * 0.0); }
  std::string type_name() const override { return "SqrtOfZero"; }
};

struct Batch64 {
  Tensor x, y;
};
Batch64 batch(int64_t n, int64_t features, int64_t classes, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(static_cast<double>(i % classes));
  return {uniform({n, features}, -1.0, 1.0, gen, DType::F64), from_vector(labels, {n}, DType::I64)};
}

const diag::TensorCheck& row(const diag::ModuleGradcheckResult& r, const std::string& name) {
  for (const auto& t : r.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no row " + name);
}

}  // namespace

TEST(Gradcheck, PassesOnAReluMlpAndChecksEveryElement) {
  nn::Sequential net;
  net.push_back(linear64(6, 5, 1));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(linear64(5, 3, 2));
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  Batch64 b = batch(4, 6, 3, 3);
  diag::ModuleGradcheckResult r = diag::check_module_gradients(net, b.x, b.y, *loss);
  EXPECT_TRUE(r.ok) << r.first_failure();
  ASSERT_EQ(r.tensors.size(), 5u);  // 4 parameters + the input
  EXPECT_EQ(r.tensors[0].name, "0.weight");
  EXPECT_EQ(r.tensors[0].layer, "layer 0 (linear)");
  EXPECT_EQ(r.tensors[4].name, "input");
  const int64_t numel[] = {30, 5, 15, 3, 24};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(r.tensors[i].checked + r.tensors[i].skipped_kinks, numel[i]) << r.tensors[i].name;
    EXPECT_LT(r.tensors[i].max_abs_err, 1e-8) << r.tensors[i].name;
  }
  EXPECT_TRUE(r.first_failure().empty());
  // Sampling: 7 elements of each larger tensor, every element of the smaller ones.
  r = diag::check_module_gradients(net, b.x, b.y, *loss, {.samples = 7});
  EXPECT_EQ(row(r, "0.weight").checked + row(r, "0.weight").skipped_kinks, 7);
  EXPECT_EQ(row(r, "0.bias").checked + row(r, "0.bias").skipped_kinks, 5);
  EXPECT_EQ(row(r, "2.bias").checked + row(r, "2.bias").skipped_kinks, 3);
}

TEST(Gradcheck, NamesTheLayerWhoseBackwardIsWrong) {
  nn::Sequential net;
  net.push_back(linear64(6, 5, 1));
  net.push_back(std::make_shared<WrongScale>(5));
  net.push_back(std::make_shared<nn::Tanh>());
  net.push_back(linear64(5, 3, 2));
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  Batch64 b = batch(4, 6, 3, 3);
  diag::ModuleGradcheckResult r = diag::check_module_gradients(net, b.x, b.y, *loss);
  EXPECT_FALSE(r.ok);
  for (const auto& t : r.tensors) EXPECT_EQ(t.pass, t.name != "1.weight") << t.name;
  const diag::TensorCheck& bad = row(r, "1.weight");
  EXPECT_EQ(bad.layer, "layer 1 (wrongscale)");
  EXPECT_EQ(bad.failed, 5);
  EXPECT_NEAR(bad.worst_analytic, bad.worst_numeric / 2, 1e-6 * std::abs(bad.worst_numeric));
  EXPECT_EQ(r.first_failure().rfind("layer 1 (wrongscale): 1.weight element 0: numeric", 0), 0u) << r.first_failure();
  const std::string table = diag::gradcheck_table(r);
  EXPECT_NE(table.find("1.weight"), std::string::npos);
  EXPECT_NE(table.find("FAIL"), std::string::npos);
}

TEST(Gradcheck, SkipsAndCountsElementsAtAReluKink) {
  // Unit 0 of the first layer has zero weights and bias: its pre-activation is exactly 0, so every
  // perturbation of its weights straddles the ReLU kink (one-sided slopes 0 and x·g).
  auto first = linear64(3, 4, 1);
  for (int64_t k = 0; k < 3; ++k) first->weight.data<double>()[k] = 0.0;
  first->bias.data<double>()[0] = 0.0;
  nn::Sequential net;
  net.push_back(first);
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(linear64(4, 2, 2));
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  Generator gen(4);
  Tensor x = uniform({5, 3}, 0.5, 1.0, gen, DType::F64);  // positive inputs: +eps·x lands on the live side
  Tensor y = from_vector({0, 1, 0, 1, 1}, {5}, DType::I64);
  diag::ModuleGradcheckResult r = diag::check_module_gradients(net, x, y, *loss);
  EXPECT_TRUE(r.ok) << r.first_failure();
  EXPECT_EQ(row(r, "0.weight").skipped_kinks, 3);
  EXPECT_EQ(row(r, "0.weight").checked, 9);
  EXPECT_EQ(row(r, "0.bias").skipped_kinks, 1);
  EXPECT_EQ(row(r, "input").skipped_kinks, 0);
}

TEST(Gradcheck, RequiresFloat64Parameters) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(3, 2));
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  Batch64 b = batch(2, 3, 2, 0);
  try {
    diag::check_module_gradients(net, b.x, b.y, *loss);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter '0.weight' is float32"), std::string::npos) << e.what();
  }
}

TEST(InitCheck, DeepTanhShowsCollapseSaturationAndXavier) {
  // examples/deep_tanh.toml's network (10 x 500 tanh) on image-like inputs in [0, 1].
  Config cfg = load_config(std::string(DESCENT_SOURCE_DIR) + "/examples/deep_tanh.toml");
  auto loss = loss::make_loss(cfg.loss);
  Generator gen(1);
  Tensor x = uniform({64, 784}, 0.0, 1.0, gen);
  Tensor y = from_vector(std::vector<double>(64, 3.0), {64}, DType::I64);
  auto run = [&](const std::string& init) {
    auto model = nn::build_model(cfg.model, DType::F32, 0);
    Generator g(0);
    init::apply(*model, init::parse(init), g);
    return diag::init_check(*model, x, y, *loss, init);
  };
  auto tanh_stds = [](const diag::InitCheckResult& r) {
    std::vector<double> s;
    for (const auto& a : r.layers)
      if (a.type == "tanh") s.push_back(a.std);
    return s;
  };
  const diag::InitCheckResult small = run("normal(0.01)"), large = run("normal(1.0)"), xavier = run("xavier_uniform");
  const std::vector<double> s_small = tanh_stds(small), s_xavier = tanh_stds(xavier);
  ASSERT_EQ(s_small.size(), 10u);
  for (size_t i = 1; i < s_small.size(); ++i) EXPECT_LT(s_small[i], 0.5 * s_small[i - 1]) << "layer " << i;
  EXPECT_LT(s_small.back(), 1e-5);
  EXPECT_EQ(small.verdict, "vanishing");
  for (const auto& a : large.layers) {
    if (a.type == "tanh") { EXPECT_GT(a.saturated, 0.7) << "layer " << a.layer; }
  }
  EXPECT_EQ(large.verdict, "saturated");
  const auto [lo, hi] = std::minmax_element(s_xavier.begin(), s_xavier.end());
  EXPECT_GT(*lo, 0.1);
  EXPECT_LT(*hi / *lo, 4.0);
  EXPECT_EQ(xavier.verdict, "healthy");
  for (const auto& a : xavier.layers) EXPECT_GT(a.grad_std, 0.0) << "layer " << a.layer;

  nlohmann::json j = nlohmann::json::parse(diag::init_check_json({small, xavier}));
  ASSERT_EQ(j.size(), 2 * small.layers.size());
  for (const char* key : {"init", "layer", "type", "mean", "std", "saturated", "zero_frac", "grad_std"})
    EXPECT_TRUE(j[1].contains(key)) << key;
  EXPECT_EQ(j[1]["type"], "tanh");
  EXPECT_TRUE(j[0]["saturated"].is_null());  // a linear layer has no saturation
  const std::string html = diag::init_check_html({small, large, xavier}, "deep_tanh");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<th>layer 19 (tanh)</th>"), std::string::npos);
}

TEST(Health, NamesTheLayerThatProducedNaNAndTheGuardGivesUp) {
  nn::Sequential net;
  net.push_back(linear64(4, 3, 1));
  net.push_back(std::make_shared<Log>());
  net.push_back(linear64(3, 2, 2));
  optim::SGD opt(net.parameters(), {.lr = 0.1});
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  diag::TrainingHealth health(net, opt, *loss, {.guard_retries = 1});
  std::vector<std::string> printed;
  health.start("", [&](const std::string& s) { printed.push_back(s); });
  const std::vector<double> w0 = net.parameters()[0].to_vector();
  Batch64 b = batch(8, 4, 2, 5);
  diag::StepAction actions[2];
  for (int64_t step = 1; step <= 2; ++step) {
    health.begin_step(step, 1);
    Tensor l = (*loss)(net(b.x), b.y);
    opt.zero_grad();
    l.backward();
    actions[step - 1] = health.after_backward(l.item(), b.x, b.y);
  }
  EXPECT_EQ(actions[0], diag::StepAction::Skip);
  EXPECT_EQ(actions[1], diag::StepAction::Stop);
  EXPECT_EQ(net.parameters()[0].to_vector(), w0);  // rolled back to the state at start()
  EXPECT_DOUBLE_EQ(opt.lr(), 0.05);
  ASSERT_GE(health.verdicts().size(), 1u);
  EXPECT_EQ(health.verdicts()[0].message, "non-finite: layer 1 (log) produced NaN in the forward pass at step 1 (epoch 1)");
  EXPECT_EQ(printed[0], "health: " + health.verdicts()[0].message);
  EXPECT_EQ(health.give_up_message().rfind("diverged at step 2 (epoch 1): the loss is NaN; gave up after 1 rollbacks", 0), 0u)
      << health.give_up_message();
}

TEST(Health, NamesTheLayerThatProducedNaNInTheBackwardPass) {
  nn::Sequential net;
  net.push_back(linear64(4, 3, 1));
  net.push_back(std::make_shared<SqrtOfZero>());
  net.push_back(linear64(3, 2, 2));
  optim::SGD opt(net.parameters(), {.lr = 0.1});
  auto loss = loss::make_loss(args_of({{"type", std::string("cross_entropy")}}));
  diag::TrainingHealth health(net, opt, *loss, {.guard = false});
  health.start("", nullptr);
  Batch64 b = batch(8, 4, 2, 5);
  health.begin_step(7, 2);
  Tensor l = (*loss)(net(b.x), b.y);
  l.backward();
  EXPECT_TRUE(std::isfinite(l.item()));
  EXPECT_EQ(health.after_backward(l.item(), b.x, b.y), diag::StepAction::Update);  // the guard is off
  ASSERT_EQ(health.verdicts().size(), 1u);
  EXPECT_EQ(health.verdicts()[0].message,
            "non-finite: layer 1 (sqrtofzero) produced NaN in the backward pass at step 7 (epoch 2)");
  EXPECT_EQ(nlohmann::json::parse(health.end_epoch(2))["health"], "diverged");
}

TEST(HealthOptions, RejectsBadValuesNamingTheKey) {
  Args a("x.toml: [health]");
  a.set("every", int64_t{0});
  try {
    diag::parse_health_options(a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "x.toml: [health]: every must be >= 1, got 0");
  }
  Args b("x.toml: [health]");
  b.set("guard_lr_factor", 1.5);
  EXPECT_THROW(diag::parse_health_options(b), Error);
}

TEST(Cli, GradcheckPassesOnTheMlpAndCnnFixtures) {
  for (const char* name : {"healthy.toml", "cnn.toml"}) {
    TempDir dir(std::string("gradcheck_") + name);
    RunResult r = run_cli("gradcheck " + diag_config(name) + " --samples 150 --batch 3" + data_sets(), dir.path);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS: every gradient matches"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0.weight"), std::string::npos);
    EXPECT_NE(r.out.find("input"), std::string::npos);
  }
}

// The examples of the issue on the real data (dataset-fashion-mnist, installed by install-deps):
// `descent gradcheck` on the MLP and the CNN passes, sampling a few elements of each tensor (every
// element of the small ones); `descent init-check examples/deep_tanh.toml` shows the textbook
// pattern in the std per layer it writes to init-check.json.
namespace {
bool have_fashion_mnist() { return fs::exists(std::string(data::kDebianDatasetDir) + "/fashion-mnist"); }
std::string example(const std::string& name) { return std::string(DESCENT_SOURCE_DIR) + "/examples/" + name; }
}  // namespace

TEST(Cli, GradcheckPassesOnTheFashionMlpAndCnnExamples) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  for (const char* name : {"fashion_mlp.toml", "fashion_cnn.toml"}) {
    TempDir dir(std::string("gradcheck_example_") + name);
    RunResult r = run_cli("gradcheck " + example(name) + " --samples 40 --batch 2", dir.path);
    EXPECT_EQ(r.code, 0) << name << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("PASS: every gradient matches"), std::string::npos) << r.out;
    // one row per parameter tensor and the input: 3 linear layers, or 2 conv + 2 linear
    const size_t rows = std::string(name) == "fashion_mlp.toml" ? 7 : 9;
    size_t pass = 0;
    for (size_t at = r.out.find("  PASS\n"); at != std::string::npos; at = r.out.find("  PASS\n", at + 1)) ++pass;
    EXPECT_EQ(pass, rows) << r.out;
    EXPECT_NE(r.out.find("float64, batch 2 (jitter 0.0001)"), std::string::npos) << r.out;
  }
  TempDir dir("gradcheck_bad_jitter");
  RunResult bad = run_cli("gradcheck " + example("fashion_mlp.toml") + " --jitter -1", dir.path);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--jitter must be >= 0, got -1"), std::string::npos) << bad.err;
}

TEST(Cli, InitCheckOnDeepTanhShowsCollapseSaturationAndXavier) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir("init_check_deep_tanh");
  RunResult r = run_cli("init-check " + example("deep_tanh.toml") +
                            " --init 'normal(0.01)' --init 'normal(1.0)' --init xavier --batch 128 --out " +
                            (dir.path / "out").string(),
                        dir.path);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("normal(0.01): vanishing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("normal(1.0): saturated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xavier_uniform: healthy"), std::string::npos) << r.out;
  // The reported std of the 10 tanh layers, per init.
  std::map<std::string, std::vector<double>> stds, saturated;
  for (const auto& row : nlohmann::json::parse(read_file(dir.path / "out" / "init-check.json")))
    if (row["type"] == "tanh") {
      stds[row["init"]].push_back(row["std"].get<double>());
      saturated[row["init"]].push_back(row["saturated"].get<double>());
    }
  const std::vector<double>& small = stds["normal(0.01)"];
  const std::vector<double>& xavier = stds["xavier_uniform"];
  ASSERT_EQ(small.size(), 10u);
  ASSERT_EQ(xavier.size(), 10u);
  ASSERT_EQ(saturated["normal(1.0)"].size(), 10u);
  // std 0.01: every layer shrinks the activations (by about 0.01·√500 ≈ 0.22), the last is ~0.
  for (size_t i = 1; i < small.size(); ++i) EXPECT_LT(small[i], 0.5 * small[i - 1]) << "tanh layer " << i;
  EXPECT_LT(small.back(), 1e-5);
  // std 1.0: every tanh layer is mostly at ±1.
  for (size_t i = 0; i < 10; ++i) EXPECT_GT(saturated["normal(1.0)"][i], 0.7) << "tanh layer " << i;
  // xavier: the std stays of the same order in every layer.
  const auto [lo, hi] = std::minmax_element(xavier.begin(), xavier.end());
  EXPECT_GT(*lo, 0.1);
  EXPECT_LT(*hi / *lo, 4.0);
}

TEST(Cli, InitCheckWritesJsonAndHtml) {
  TempDir dir("init_check");
  RunResult r = run_cli("init-check " + diag_config("healthy.toml") + " --init xavier --init 'normal(1.0)' --batch 50 --out " +
                            (dir.path / "out").string() + data_sets(),
                        dir.path);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("xavier_uniform: "), std::string::npos) << r.out;
  nlohmann::json j = nlohmann::json::parse(read_file(dir.path / "out" / "init-check.json"));
  ASSERT_EQ(j.size(), 10u);  // 2 inits x 5 layers
  EXPECT_EQ(j[0]["init"], "xavier_uniform");
  EXPECT_EQ(j[6]["init"], "normal(1.0)");
  EXPECT_EQ(j[6]["type"], "relu");
  EXPECT_GT(j[6]["zero_frac"].get<double>(), 0.2);
  const std::string html = read_file(dir.path / "out" / "init-check.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  RunResult bad = run_cli("init-check " + diag_config("healthy.toml") + " --init xavir" + data_sets(), dir.path);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown init 'xavir'"), std::string::npos) << bad.err;
}

TEST(Cli, ReportRebuildsAndRejectsAFolderWithoutARun) {
  TempDir dir("report");
  RunResult none = run_cli("report " + dir.path.string(), dir.path);
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("not a run folder"), std::string::npos) << none.err;
  const auto run = dir.path / "run";
  RunResult t = run_cli("train " + diag_config("healthy.toml") + " --quiet --out " + run.string() + data_sets() +
                            " --set train.epochs=1",
                        dir.path);
  ASSERT_EQ(t.code, 0) << t.err;
  std::filesystem::remove(run / "report.html");
  RunResult r = run_cli("report " + run.string(), dir.path);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string html = read_file(run / "report.html");
  for (const char* part : {"<h2>Training curves</h2>", "learning rate", "<h2>Activation histograms at start and end</h2>",
                           "No verdict fired", "<h2>Config</h2>", "&quot;status&quot;: &quot;completed&quot;"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no fetched resources
}
