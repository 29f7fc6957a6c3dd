// tests/optim_test.cpp — optimizers (descent/optim.h): PyTorch's trajectories, parameter groups and
// the no-decay default, lr scaling, state save/restore, the [optimizer] config and its errors.
//
// How to add a case:
//   - an optimizer setting against PyTorch: append a case to CASES in scripts/gen_optim_golden.py
//     and run `/usr/bin/python3 scripts/gen_optim_golden.py` (Debian's python3-torch); the
//     Golden test runs every case of tests/golden/optim/*.json by name;
//   - a config error: add a row {[optimizer] TOML, part of the message} to kConfigErrors;
//   - a damaged checkpoint state: add a row to the LoadStateErrors test;
//   - anything else: a TEST in the section of its part below.
#include <gtest/gtest.h>

#include "error_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "descent/config.h"
#include "descent/nn.h"
#include "descent/optim.h"

using namespace descent;
namespace optim = descent::optim;
using nlohmann::json;

namespace {

constexpr double kRtol = 1e-6;  // the tolerance against PyTorch in float64
const char* const kFamilies[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "groups"};
const char* const kNames[] = {"0.weight", "0.bias", "1.weight", "1.bias"};

json read_json(const std::string& file) {
  std::ifstream in(std::string(DESCENT_SOURCE_DIR) + "/tests/golden/optim/" + file);
  if (!in) throw std::runtime_error("missing golden file " + file + " (run scripts/gen_optim_golden.py)");
  return json::parse(in);
}

// ---- The golden problem: H = X W1^T + b1, out = H W2^T + b2, loss = 0.5/N Σ (out − Y)² ----------

struct Problem {
  std::vector<double> x, y;  // [8, 3], [8, 2]
  std::map<std::string, std::vector<double>> init;
  int steps = 0, record_every = 0;
};

const Problem& problem() {
  static const Problem p = [] {
    json j = read_json("problem.json");
    Problem p;
    p.x = j["x"]["values"].get<std::vector<double>>();
    p.y = j["y"]["values"].get<std::vector<double>>();
    for (const char* n : kNames) p.init[n] = j["params"][n]["values"].get<std::vector<double>>();
    p.steps = j["steps"].get<int>();
    p.record_every = j["record_every"].get<int>();
    return p;
  }();
  return p;
}

// Sequential(Linear(3, 4), Linear(4, 2)) holding the golden initial parameters.
std::shared_ptr<nn::Sequential> make_net(DType dtype = DType::F64) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(3, 4, nn::LinearOptions{.dtype = dtype}));
  net->push_back(std::make_shared<nn::Linear>(4, 2, nn::LinearOptions{.dtype = dtype}));
  for (auto& [name, t] : net->named_parameters()) t.copy_(from_vector(problem().init.at(name), t.shape(), DType::F64));
  return net;
}

// The gradient of the golden loss, written out by hand in double (backprop of two linear layers).
void set_gradients(const nn::Module& net) {
  const Problem& pb = problem();
  std::map<std::string, Tensor> p;
  for (auto& [name, t] : net.named_parameters()) p[name] = t;
  const auto w1 = p["0.weight"].to_vector(), b1 = p["0.bias"].to_vector();
  const auto w2 = p["1.weight"].to_vector(), b2 = p["1.bias"].to_vector();
  const int n = 8, in = 3, hid = 4, out = 2;
  std::vector<double> h(n * hid), r(n * out), dh(n * hid, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < hid; ++j) {
      double s = b1[j];
      for (int k = 0; k < in; ++k) s += pb.x[i * in + k] * w1[j * in + k];
      h[i * hid + j] = s;
    }
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      double s = b2[o];
      for (int j = 0; j < hid; ++j) s += h[i * hid + j] * w2[o * hid + j];
      r[i * out + o] = (s - pb.y[i * out + o]) / n;  // d loss / d out
    }
  std::vector<double> gw1(hid * in, 0.0), gb1(hid, 0.0), gw2(out * hid, 0.0), gb2(out, 0.0);
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      gb2[o] += r[i * out + o];
      for (int j = 0; j < hid; ++j) {
        gw2[o * hid + j] += r[i * out + o] * h[i * hid + j];
        dh[i * hid + j] += r[i * out + o] * w2[o * hid + j];
      }
    }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < hid; ++j) {
      gb1[j] += dh[i * hid + j];
      for (int k = 0; k < in; ++k) gw1[j * in + k] += dh[i * hid + j] * pb.x[i * in + k];
    }
  const std::map<std::string, std::vector<double>*> grads = {
      {"0.weight", &gw1}, {"0.bias", &gb1}, {"1.weight", &gw2}, {"1.bias", &gb2}};
  for (auto& [name, g] : grads) p[name].set_grad(from_vector(*g, p[name].shape(), p[name].dtype()));
}

// A golden case's [optimizer] table as the config loader would build it.
Args to_args(const json& config) {
  Args a("golden: [optimizer]");
  for (const auto& [key, v] : config.items()) {
    if (v.is_boolean()) a.set(key, v.get<bool>());
    else if (v.is_number_integer()) a.set(key, v.get<int64_t>());
    else if (v.is_number()) a.set(key, v.get<double>());
    else if (v.is_string()) a.set(key, v.get<std::string>());
    else if (v.is_array() && !v.empty() && v[0].is_string()) a.set(key, v.get<std::vector<std::string>>());
    else a.set(key, v.get<std::vector<double>>());
  }
  return a;
}

struct Case {
  std::string family;
  json data;
};

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const char* f : kFamilies) {
    const json file = read_json(std::string(f) + ".json");
    for (const auto& c : file["cases"]) out.push_back({f, c});
  }
  return out;
}

const Case& find_case(const std::string& name) {
  static const std::vector<Case> cases = all_cases();
  for (const auto& c : cases)
    if (c.data["name"] == name) return c;
  throw std::runtime_error("no golden case " + name);
}

// Runs `opt` on the golden problem and compares with the case's trajectory at every record.
void check_trajectory(const json& c, nn::Module& net, optim::Optimizer& opt, double rtol) {
  const Problem& pb = problem();
  const double lr0 = opt.lr();
  size_t rec = 0;
  for (int t = 0; t <= pb.steps; ++t) {
    if (t > 0) {
      if (c.contains("schedule")) {
        ASSERT_EQ(c["schedule"], "cosine");
        opt.set_lr(lr0 * 0.5 * (1.0 + std::cos(M_PI * (t - 1) / pb.steps)));
      }
      opt.zero_grad();
      set_gradients(net);
      opt.step();
    }
    if (t % pb.record_every != 0) continue;
    const json& r = c["trajectory"].at(rec++);
    ASSERT_EQ(r["step"].get<int>(), t);
    for (auto& [name, tensor] : net.named_parameters()) {
      auto want = r["params"][name].get<std::vector<double>>();
      auto got = tensor.to_vector();
      ASSERT_EQ(want.size(), got.size());
      for (size_t k = 0; k < want.size(); ++k)
        ASSERT_LE(std::abs(got[k] - want[k]), rtol * std::max(std::abs(got[k]), std::abs(want[k])) + 1e-12)
            << c["name"].get<std::string>() << " step " << t << " " << name << "[" << k << "]: torch " << want[k]
            << ", descent " << got[k];
    }
  }
  EXPECT_EQ(rec, c["trajectory"].size());
}

// ---- Trajectories against PyTorch --------------------------------------------------------------

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesTorchThroughTheConfig) {
  const json& c = find_case(GetParam()).data;
  auto net = make_net();
  auto opt = optim::make_optimizer(to_args(c["config"]), *net);
  check_trajectory(c, *net, *opt, kRtol);
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& c : all_cases()) names.push_back(c.data["name"].get<std::string>());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Optim, Golden, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(GoldenCoverage, EveryOptimizerTypeAndFeatureHasACase) {
  std::set<std::string> types, keys;
  for (const auto& c : all_cases()) {
    types.insert(c.data["config"]["type"].get<std::string>());
    for (const auto& [k, v] : c.data["config"].items())
      if (v != false) keys.insert(k);
  }
  EXPECT_EQ(types, (std::set<std::string>{"sgd", "adam", "adamw", "rmsprop", "adagrad"}));
  for (const char* k : {"momentum", "nesterov", "dampening", "weight_decay", "maximize", "betas", "eps", "amsgrad",
                        "alpha", "centered", "lr_decay", "initial_accumulator_value", "groups", "group_lr",
                        "group_weight_decay"})
    EXPECT_TRUE(keys.count(k)) << "no golden case sets '" << k << "'";
}

// The C++ constructors (designated initializers, explicit groups) give the same trajectories.
TEST(GoldenCpp, ConstructorsMatchTorch) {
  using Make = std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)>;
  auto all = [](nn::Module& m) { return m.parameters(); };
  auto named = [](nn::Module& m, const std::string& n) {
    for (auto& [name, t] : m.named_parameters())
      if (name == n) return t;
    throw std::runtime_error(n);
  };
  const std::vector<std::pair<std::string, Make>> rows = {
      {"sgd_nesterov", [&](nn::Module& m) {
         return std::make_unique<optim::SGD>(all(m), optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"adam_amsgrad", [&](nn::Module& m) {
         return std::make_unique<optim::Adam>(all(m), optim::AdamOptions{.lr = 0.01, .betas = {0.8, 0.99}, .amsgrad = true});
       }},
      {"adamw_default_decay", [&](nn::Module& m) { return std::make_unique<optim::AdamW>(all(m), optim::AdamWOptions{.lr = 0.01}); }},
      {"rmsprop_centered_momentum", [&](nn::Module& m) {
         return std::make_unique<optim::RMSprop>(
             all(m), optim::RMSpropOptions{.lr = 0.005, .eps = 1e-6, .momentum = 0.5, .centered = true});
       }},
      {"adagrad_lr_decay_initial_accumulator", [&](nn::Module& m) {
         return std::make_unique<optim::Adagrad>(all(m), optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.05, .weight_decay = 0.01,
                                                                               .initial_accumulator_value = 0.5});
       }},
      {"sgd_glob_group", [&](nn::Module& m) {
         std::vector<optim::ParamGroup> g = {
             {.params = {named(m, "1.weight")}, .lr = 0.01, .weight_decay = 0.2},
             {.params = {named(m, "1.bias")}, .lr = 0.01, .weight_decay = 0.0},
             {.params = {named(m, "0.weight")}},
             {.params = {named(m, "0.bias")}, .weight_decay = 0.0}};
         return std::make_unique<optim::SGD>(std::move(g), optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01});
       }},
  };
  for (const auto& [name, make] : rows) {
    SCOPED_TRACE(name);
    auto net = make_net();
    auto opt = make(*net);
    check_trajectory(find_case(name).data, *net, *opt, kRtol);
  }
}

// The float32 kernels (what training runs) follow the same trajectories to float32 accuracy.
TEST(GoldenFloat32, TracksTorchFloat64) {
  for (const char* name : {"sgd_nesterov", "adam_amsgrad", "adamw_plain", "rmsprop_centered_momentum",
                           "adagrad_lr_decay_initial_accumulator"}) {
    SCOPED_TRACE(name);
    const json& c = find_case(name).data;
    auto net = make_net(DType::F32);
    auto opt = optim::make_optimizer(to_args(c["config"]), *net);
    check_trajectory(c, *net, *opt, 2e-4);
  }
}

// ---- Parameter groups and the no-decay default ---------------------------------------------------

// A stand-in for a normalization layer: only its type name and parameter shapes matter here.
class FakeNorm : public nn::Module {
 public:
  FakeNorm(std::string type, const Shape& shape) : type_(std::move(type)) {
    weight = ones(shape).requires_grad_();
    bias = zeros(shape).requires_grad_();
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return type_; }
  Tensor weight, bias;

 private:
  std::string type_;
};

// Linear(3, 4) → BatchNorm1d(4) → Linear(4, 2) → LayerNorm over [2, 3]: names 0.*, 1.*, 2.*, 3.*.
std::shared_ptr<nn::Sequential> net_with_norms() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(3, 4));
  net->push_back(std::make_shared<FakeNorm>("BatchNorm1d", Shape{4}));
  net->push_back(std::make_shared<nn::Linear>(4, 2));
  net->push_back(std::make_shared<FakeNorm>("LayerNorm", Shape{2, 3}));
  return net;
}

std::vector<std::string> names_of(const optim::ParamGroup& g) { return g.names; }

TEST(ParamGroups, DefaultExemptsBiasesAndNormalizationParameters) {
  auto net = net_with_norms();
  auto groups = optim::param_groups(*net);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(names_of(groups[0]), (std::vector<std::string>{"0.weight", "2.weight"}));
  EXPECT_FALSE(groups[0].weight_decay.has_value());  // takes the optimizer's
  EXPECT_EQ(names_of(groups[1]), (std::vector<std::string>{"0.bias", "1.weight", "1.bias", "2.bias", "3.weight", "3.bias"}));
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  // Through an optimizer: the decayed group has the optimizer's weight decay, the other none.
  optim::AdamW opt(groups, {.weight_decay = 0.05});
  ASSERT_EQ(opt.groups().size(), 2u);
  EXPECT_EQ(opt.groups()[0].weight_decay, 0.05);
  EXPECT_EQ(opt.groups()[1].weight_decay, 0.0);
  EXPECT_EQ(opt.params().size(), 8u);
}

// The real normalization layers: BatchNorm's and a 2-d LayerNorm's parameters get no decay.
TEST(ParamGroups, RealNormalizationLayers) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(6, 4));
  net->push_back(std::make_shared<nn::BatchNorm1d>(4));
  net->push_back(std::make_shared<nn::Linear>(4, 6));
  net->push_back(std::make_shared<nn::LayerNorm>(Shape{2, 3}));
  auto groups = optim::param_groups(*net, {.no_decay = {"norm"}});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(names_of(groups[0]), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(names_of(groups[1]), (std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"}));
  EXPECT_EQ(groups[1].weight_decay, 0.0);
}

TEST(ParamGroups, SelectorsOneByOne) {
  auto net = net_with_norms();
  auto undecayed = [&](std::vector<std::string> sel) {
    auto groups = optim::param_groups(*net, {.no_decay = std::move(sel)});
    std::vector<std::string> out;
    for (const auto& g : groups)
      if (g.weight_decay == 0.0) out.insert(out.end(), g.names.begin(), g.names.end());
    return out;
  };
  EXPECT_EQ(undecayed({}), std::vector<std::string>{});
  EXPECT_EQ(undecayed({"bias"}), (std::vector<std::string>{"0.bias", "1.bias", "2.bias", "3.bias"}));
  EXPECT_EQ(undecayed({"norm"}), (std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"}));
  // LayerNorm's 2-d weight is not 1-d: only the "norm" selector catches it.
  EXPECT_EQ(undecayed({"1d"}), (std::vector<std::string>{"0.bias", "1.weight", "1.bias", "2.bias"}));
  EXPECT_EQ(undecayed({"2.*"}), (std::vector<std::string>{"2.weight", "2.bias"}));
  EXPECT_EQ(optim::param_groups(*net, {.no_decay = {}}).size(), 1u);
  EXPECT_ERROR_HAS(optim::param_groups(*net, {.no_decay = {"head.*"}}), "'head.*' matches no parameter");
  EXPECT_ERROR_HAS(optim::param_groups(*net, {.no_decay = {""}}), "empty selector");
  auto decayed = optim::decayed_parameters(*net, {"bias", "norm"});
  ASSERT_EQ(decayed.size(), 2u);
  EXPECT_TRUE(decayed[0].is_same(std::static_pointer_cast<nn::Linear>(net->at(0))->weight));
  EXPECT_TRUE(decayed[1].is_same(std::static_pointer_cast<nn::Linear>(net->at(2))->weight));
}

TEST(ParamGroups, RulesFirstMatchWinsAndKeepTheirSettings) {
  auto net = net_with_norms();
  auto groups = optim::param_groups(
      *net, {.no_decay = {"bias"}, .groups = {{.params = "2.*", .lr = 0.5}, {.params = "*.weight", .weight_decay = 0.3}}});
  // rule 0: 2.weight | 2.bias;  rule 1: 0.weight 1.weight 3.weight;  rest: 0.bias 1.bias 3.bias.
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(names_of(groups[0]), std::vector<std::string>{"2.weight"});
  EXPECT_EQ(groups[0].lr, 0.5);
  EXPECT_EQ(names_of(groups[1]), std::vector<std::string>{"2.bias"});
  EXPECT_EQ(groups[1].lr, 0.5);
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(names_of(groups[2]), (std::vector<std::string>{"0.weight", "1.weight", "3.weight"}));
  EXPECT_EQ(groups[2].weight_decay, 0.3);
  EXPECT_FALSE(groups[2].lr.has_value());
  EXPECT_EQ(names_of(groups[3]), (std::vector<std::string>{"0.bias", "1.bias", "3.bias"}));
  EXPECT_ERROR_HAS(optim::param_groups(*net, {.groups = {{.params = "*"}, {.params = "0.*"}}}),
                   "groups[1]: '0.*' matches no parameter");
}

TEST(ParamGroups, GlobMatching) {
  struct Row {
    const char *pattern, *name;
    bool match;
  };
  for (const Row& r : std::vector<Row>{{"*", "0.weight", true},     {"0.*", "0.weight", true},
                                       {"0.*", "10.weight", false}, {"*.bias", "3.bias", true},
                                       {"*.bias", "3.bias_hh", false}, {"?.weight", "3.weight", true},
                                       {"?.weight", "13.weight", false}, {"a*b*c", "axxbyyc", true},
                                       {"a*b*c", "axxbyy", false},  {"", "", true},
                                       {"**", "x", true},           {"0.weight", "0.weight", true}})
    EXPECT_EQ(optim::glob_match(r.pattern, r.name), r.match) << r.pattern << " vs " << r.name;
}

TEST(ParamGroups, ConstructionErrors) {
  auto w = ones({2}).requires_grad_();
  EXPECT_ERROR_HAS(optim::SGD(std::vector<Tensor>{}, {}), "empty parameter list");
  EXPECT_ERROR_HAS(optim::SGD(std::vector<optim::ParamGroup>{{.params = {w}}, {.params = {w}}}, {}),
                   "appears in more than one group");
  EXPECT_ERROR_HAS(optim::SGD(std::vector<Tensor>{ones({2})}, {}), "does not require grad");
  EXPECT_ERROR_HAS(optim::SGD(std::vector<Tensor>{w * 2.0}, {}), "not a leaf");
  EXPECT_ERROR_HAS(optim::SGD(std::vector<optim::ParamGroup>{{.params = {w}, .lr = -1.0}}, {}), "group 0 lr must be >= 0");
  EXPECT_ERROR_HAS(optim::Adam(std::vector<optim::ParamGroup>{{.params = {w}, .names = {"a", "b"}}}, {}), "2 names for 1");
}

// ---- Learning rate, momentum, skipped parameters -------------------------------------------------

TEST(LearningRate, SetLrScalesEveryGroupFromItsInitialLr) {
  auto a = ones({2}, DType::F64).requires_grad_(), b = ones({2}, DType::F64).requires_grad_();
  auto c = ones({2}, DType::F64).requires_grad_();
  optim::SGD opt(std::vector<optim::ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.01}, {.params = {c}, .lr = 0.0}},
                 {.lr = 0.1});
  opt.set_lr(0.05);
  EXPECT_EQ(opt.lr(), 0.05);
  EXPECT_DOUBLE_EQ(opt.groups()[0].lr, 0.05);
  EXPECT_DOUBLE_EQ(opt.groups()[1].lr, 0.005);
  EXPECT_EQ(opt.groups()[2].lr, 0.0);
  EXPECT_DOUBLE_EQ(opt.options().lr, 0.05);
  // The update uses each group's lr: p ← p − lr_g · g.
  for (auto& t : {a, b, c}) t.set_grad(ones({2}, DType::F64));
  opt.step();
  EXPECT_DOUBLE_EQ(a.to_vector()[0], 1.0 - 0.05);
  EXPECT_DOUBLE_EQ(b.to_vector()[0], 1.0 - 0.005);
  EXPECT_EQ(c.to_vector()[0], 1.0);
  opt.set_lr(0.1);  // back to the start: the initial group lrs again
  EXPECT_DOUBLE_EQ(opt.groups()[1].lr, 0.01);
  // An optimizer built with lr 0 cannot scale: every group takes the lr itself.
  optim::SGD zero(std::vector<optim::ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.3}}, {.lr = 0.0});
  zero.set_lr(0.2);
  EXPECT_EQ(zero.groups()[0].lr, 0.2);
  EXPECT_EQ(zero.groups()[1].lr, 0.2);
}

TEST(Momentum, AdamFamilyCyclesBeta1) {
  // set_momentum(0.85) on an Adam built with beta1 0.9 must run exactly as one built with 0.85.
  auto run = [](double built_beta1, std::optional<double> set_beta1) {
    auto w = from_vector({1.0, -2.0}, {2}, DType::F64).requires_grad_();
    optim::Adam adam({w}, {.lr = 0.1, .betas = {built_beta1, 0.999}});
    if (set_beta1) adam.set_momentum(*set_beta1);
    for (double g : {0.5, -1.0, 2.0}) {
      w.set_grad(from_vector({g, 3.0 * g}, {2}, DType::F64));
      adam.step();
    }
    return w.to_vector();
  };
  EXPECT_EQ(run(0.9, 0.85), run(0.85, std::nullopt));
  EXPECT_NE(run(0.9, std::nullopt), run(0.85, std::nullopt));
  auto w = from_vector({1.0, -2.0}, {2}, DType::F64).requires_grad_();
  optim::Adam adam({w}, {.lr = 0.1});
  EXPECT_EQ(adam.momentum(), 0.9);
  adam.set_momentum(0.85);
  EXPECT_EQ(adam.momentum(), 0.85);
  EXPECT_EQ(adam.options().betas[0], 0.85);
  EXPECT_ERROR_HAS(adam.set_momentum(1.0), "betas[0] must be in [0, 1)");
  optim::AdamW adamw({w});
  adamw.set_momentum(0.9);
  EXPECT_EQ(adamw.type_name(), "AdamW");
  optim::SGD sgd({w}, {.momentum = 0.9});
  sgd.set_momentum(0.8);
  EXPECT_EQ(sgd.momentum(), 0.8);
  optim::RMSprop rms({w});
  rms.set_momentum(0.5);
  EXPECT_EQ(rms.momentum(), 0.5);
  optim::Adagrad ada({w});
  EXPECT_TRUE(std::isnan(ada.momentum()));
  EXPECT_ERROR_HAS(ada.set_momentum(0.9), "Adagrad has no momentum");
}

TEST(Step, ParametersWithoutGradientKeepValueAndState) {
  auto a = from_vector({1.0, 2.0}, {2}, DType::F64).requires_grad_();
  auto b = from_vector({3.0}, {1}, DType::F64).requires_grad_();
  optim::Adam opt({a, b}, {.lr = 0.1});
  a.set_grad(from_vector({1.0, 1.0}, {2}, DType::F64));
  opt.step();
  opt.step();
  EXPECT_EQ(b.to_vector(), std::vector<double>{3.0});
  std::set<std::string> keys;
  for (auto& [k, t] : opt.state()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"0.step", "0.exp_avg", "0.exp_avg_sq"}));
  for (auto& [k, t] : opt.state())
    if (k == "0.step") {
      EXPECT_EQ(t.item(), 2.0);
    }
  EXPECT_EQ(opt.step_count(), 2);
  // b's first gradient gets t = 1 (full bias correction: a step of lr·sign(g)), as torch's per-parameter step.
  b.set_grad(from_vector({5.0}, {1}, DType::F64));
  opt.step();
  EXPECT_NEAR(b.to_vector()[0], 3.0 - 0.1, 1e-9);
}

TEST(Step, GradientOfTheWrongDtypeIsAnError) {
  auto w = ones({2}, DType::F64).requires_grad_();
  optim::SGD opt({w});
  w.set_grad(ones({2}, DType::F32));
  EXPECT_ERROR_HAS(opt.step(), "gradient of parameter 0 is float32");
}

// A large parameter goes through the OpenMP branch of the loops; it must equal the same update on
// small pieces (which stay serial).
TEST(Step, ParallelLoopEqualsSerial) {
  const int64_t n = 200000;
  Generator gen(7);
  Tensor init = normal({n}, 0.0, 1.0, gen, DType::F32), grad = normal({n}, 0.0, 1.0, gen, DType::F32);
  auto big = init.clone().requires_grad_();
  std::vector<Tensor> pieces;
  const auto iv = init.to_vector(), gv = grad.to_vector();
  for (int64_t s = 0; s < n; s += 50000)
    pieces.push_back(from_vector({iv.begin() + s, iv.begin() + s + 50000}, {50000}).requires_grad_());
  optim::Adam a({big}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  optim::Adam b(pieces, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  for (int step = 0; step < 3; ++step) {
    big.set_grad(grad);
    for (size_t i = 0; i < pieces.size(); ++i)
      pieces[i].set_grad(from_vector({gv.begin() + i * 50000, gv.begin() + (i + 1) * 50000}, {50000}));
    a.step();
    b.step();
  }
  const auto got = big.to_vector();
  for (size_t i = 0; i < pieces.size(); ++i) {
    const auto part = pieces[i].to_vector();
    for (size_t k = 0; k < part.size(); ++k) ASSERT_EQ(got[i * 50000 + k], part[k]) << i * 50000 + k;
  }
  EXPECT_NE(got, iv);
}

// SGD's update loop is compiled for several ISAs (some with FMA) and picked at run time; every
// version must round each multiply and add on its own, exactly as this reference does (volatile
// forces each rounding here whatever the flags), so that a run does not depend on the machine.
template <class T>
void sgd_reference(std::vector<T>& p, const std::vector<T>& g, std::vector<T>& b, bool first, const optim::SGDOptions& o) {
  const T sign = o.maximize ? T(-1) : T(1), wd = T(o.weight_decay), lr = T(o.lr), mom = T(o.momentum),
          damp = T(1.0 - o.dampening);
  for (size_t k = 0; k < p.size(); ++k) {
    volatile T sg = sign * g[k], wp = wd * p[k];
    T d = sg + wp;
    if (o.momentum != 0.0) {
      if (first) {
        b[k] = d;
      } else {
        volatile T mb = mom * b[k], dd = damp * d;
        b[k] = mb + dd;
      }
      if (o.nesterov) {
        volatile T mb = mom * b[k];
        d = d + mb;
      } else {
        d = b[k];
      }
    }
    volatile T step = lr * d;
    p[k] = p[k] - step;
  }
}

template <class T>
void expect_sgd_bit_identical(DType dt) {
  const std::vector<optim::SGDOptions> cases = {
      {.lr = 0.1},
      {.lr = 0.1, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.01},
      {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.001, .nesterov = true},
      {.lr = 0.1, .momentum = 0.7, .maximize = true},
  };
  for (int64_t n : {int64_t{70001}, int64_t{37}}) {  // the parallel branch, and a short odd tail
    for (size_t c = 0; c < cases.size(); ++c) {
      Generator gen(11);
      Tensor w = normal({n}, 0.0, 1.0, gen, dt).requires_grad_();
      std::vector<T> p(static_cast<size_t>(n)), b(p.size()), g(p.size());
      std::copy_n(w.data<T>(), n, p.begin());
      optim::SGD opt({w}, cases[c]);
      for (int step = 0; step < 3; ++step) {
        Tensor grad = normal({n}, 0.0, 1.0, gen, dt);
        std::copy_n(grad.data<T>(), n, g.begin());
        w.set_grad(grad);
        opt.step();
        sgd_reference(p, g, b, step == 0, cases[c]);
      }
      for (int64_t k = 0; k < n; ++k)
        ASSERT_EQ(std::memcmp(&w.data<T>()[k], &p[static_cast<size_t>(k)], sizeof(T)), 0)
            << "case " << c << ", n " << n << ", element " << k << ": " << w.data<T>()[k] << " vs " << p[k];
    }
  }
}

TEST(Step, SgdRoundsEachOperationLikeTheScalarRule) {
  expect_sgd_bit_identical<float>(DType::F32);
  expect_sgd_bit_identical<double>(DType::F64);
}

// ---- State save / restore --------------------------------------------------------------------------

nn::NamedTensors copy_params(const nn::Module& net) {
  nn::NamedTensors out;
  for (auto& [n, t] : net.named_parameters()) out.emplace_back(n, t.detach().clone());
  return out;
}

TEST(State, RoundTripContinuesBitIdentically) {
  for (const char* name : {"sgd_dampening", "adam_amsgrad", "adamw_default_no_decay", "rmsprop_centered_momentum",
                           "adagrad_lr_decay_initial_accumulator"}) {
    SCOPED_TRACE(name);
    const json& c = find_case(name).data;
    auto net = make_net();
    auto opt = optim::make_optimizer(to_args(c["config"]), *net);
    auto run = [](nn::Module& m, optim::Optimizer& o, int steps) {
      for (int i = 0; i < steps; ++i) {
        o.zero_grad();
        set_gradients(m);
        o.step();
      }
    };
    run(*net, *opt, 17);
    nn::NamedTensors saved_state = opt->state(), saved_params = copy_params(*net);
    ASSERT_FALSE(saved_state.empty());
    // Resume: a new model and optimizer from the same config, given the saved weights and state.
    auto resumed_net = make_net(), fresh_net = make_net();
    for (auto* m : {resumed_net.get(), fresh_net.get()}) {
      auto params = m->named_parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].second.copy_(saved_params[i].second);
    }
    auto resumed = optim::make_optimizer(to_args(c["config"]), *resumed_net);
    auto fresh = optim::make_optimizer(to_args(c["config"]), *fresh_net);
    resumed->load_state(saved_state, opt->step_count());
    EXPECT_EQ(resumed->step_count(), 17);
    run(*net, *opt, 13);
    run(*resumed_net, *resumed, 13);
    run(*fresh_net, *fresh, 13);
    auto p = net->named_parameters(), q = resumed_net->named_parameters(), f = fresh_net->named_parameters();
    bool fresh_differs = false;
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_EQ(p[i].second.to_vector(), q[i].second.to_vector()) << p[i].first;
      fresh_differs = fresh_differs || p[i].second.to_vector() != f[i].second.to_vector();
    }
    EXPECT_TRUE(fresh_differs) << "without the state the run must differ, or this test proves nothing";
  }
}

TEST(State, NamesFollowTorch) {
  auto w = ones({2}, DType::F64).requires_grad_();
  auto names = [&](optim::Optimizer& o) {
    w.set_grad(ones({2}, DType::F64));
    o.step();
    std::set<std::string> s;
    for (auto& [k, t] : o.state()) s.insert(k);
    return s;
  };
  optim::SGD sgd({w}, {.momentum = 0.9});
  EXPECT_EQ(names(sgd), std::set<std::string>{"0.momentum_buffer"});
  optim::Adam adam({w}, {.amsgrad = true});
  EXPECT_EQ(names(adam), (std::set<std::string>{"0.step", "0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq"}));
  optim::RMSprop rms({w}, {.momentum = 0.9, .centered = true});
  EXPECT_EQ(names(rms), (std::set<std::string>{"0.step", "0.square_avg", "0.momentum_buffer", "0.grad_avg"}));
  optim::Adagrad ada({w});
  EXPECT_EQ(names(ada), (std::set<std::string>{"0.step", "0.sum"}));
}

TEST(State, LoadStateErrorsLeaveTheOptimizerUnchanged) {
  auto w = ones({2, 3}, DType::F64).requires_grad_();
  optim::Adam opt({w}, {.amsgrad = true});
  w.set_grad(ones({2, 3}, DType::F64));
  opt.step();
  const nn::NamedTensors good = opt.state();
  auto with = [&](const std::string& drop, const std::string& key, Tensor t) {
    nn::NamedTensors s;
    for (auto& [k, v] : good)
      if (k != drop) s.emplace_back(k, v);
    if (!key.empty()) s.emplace_back(key, t);
    return s;
  };
  const Tensor buf = zeros({2, 3}, DType::F64);
  struct Row {
    nn::NamedTensors state;
    const char* message;
  };
  const std::vector<Row> rows = {
      {with("0.exp_avg", "0.exp_avg", zeros({3, 2}, DType::F64)), "'0.exp_avg' has shape [3, 2], parameter has [2, 3]"},
      {with("", "1.exp_avg", buf), "refers to parameter 1 of 1"},
      {with("", "0.velocity", buf), "'0.velocity' that Adam does not use"},
      {with("", "exp_avg", buf), "'exp_avg' is not named '<parameter index>.<name>'"},
      {with("", "x.exp_avg", buf), "'x.exp_avg' is not named"},
      {with("0.exp_avg_sq", "", Tensor()), "lacks '0.exp_avg_sq'"},
      {with("0.max_exp_avg_sq", "", Tensor()), "lacks '0.max_exp_avg_sq'"},
      {with("0.step", "0.step", scalar(1.5, DType::F64)), "'0.step' must hold one positive integer"},
      {with("0.step", "0.step", scalar(0.0, DType::F64)), "'0.step' must hold one positive integer"},
      {with("0.exp_avg", "0.exp_avg", zeros({2, 3}, DType::I64)), "'0.exp_avg' has dtype int64"},
  };
  for (const auto& r : rows) EXPECT_ERROR_HAS(opt.load_state(r.state, 5), r.message);
  EXPECT_EQ(opt.step_count(), 1);
  auto after = opt.state();
  ASSERT_EQ(after.size(), good.size());
  for (size_t i = 0; i < good.size(); ++i) EXPECT_EQ(after[i].second.to_vector(), good[i].second.to_vector());
  optim::SGD sgd({w}, {.momentum = 0.9});
  EXPECT_ERROR_HAS(sgd.load_state(good, 1), "that SGD does not use");
}

// ---- [optimizer] config ----------------------------------------------------------------------------

std::unique_ptr<optim::Optimizer> from_toml(const std::string& optimizer_toml, const nn::Module& net) {
  Config cfg = parse_config("[data]\n[model]\ninput_shape = [3]\nlayers = [{ type = \"linear\", out_features = 2 }]\n"
                            "[optimizer]\n" + optimizer_toml,
                            "test.toml");
  return optim::make_optimizer(cfg.optimizer, net);
}

TEST(Config, BuildsEachTypeWithItsKeys) {
  auto net = net_with_norms();
  auto sgd = from_toml("type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\nweight_decay = 1e-4", *net);
  EXPECT_EQ(sgd->type_name(), "SGD");
  auto s = dynamic_cast<optim::SGD&>(*sgd).options();
  EXPECT_EQ(s.momentum, 0.9);
  EXPECT_TRUE(s.nesterov);
  auto adam = from_toml("type = \"adam\"\nbetas = [0.8, 0.9]\neps = 1e-6\namsgrad = true", *net);
  auto a = dynamic_cast<optim::Adam&>(*adam).options();
  EXPECT_EQ(a.lr, 1e-3);  // torch's default
  EXPECT_EQ(a.betas[1], 0.9);
  EXPECT_TRUE(a.amsgrad);
  EXPECT_EQ(a.weight_decay, 0.0);
  auto adamw = from_toml("type = \"adamw\"", *net);
  EXPECT_EQ(adamw->type_name(), "AdamW");
  EXPECT_EQ(adamw->groups()[0].weight_decay, 1e-2);  // torch's AdamW default
  auto rms = from_toml("type = \"rmsprop\"\nalpha = 0.9\ncentered = true\nmomentum = 0.5", *net);
  EXPECT_EQ(dynamic_cast<optim::RMSprop&>(*rms).options().alpha, 0.9);
  auto ada = from_toml("type = \"adagrad\"\nlr_decay = 0.1\ninitial_accumulator_value = 0.2", *net);
  EXPECT_EQ(dynamic_cast<optim::Adagrad&>(*ada).options().initial_accumulator_value, 0.2);
  // no_decay = [] decays everything: one group; the default splits off the undecayed parameters.
  EXPECT_EQ(from_toml("type = \"adamw\"\nno_decay = []", *net)->groups().size(), 1u);
  EXPECT_EQ(from_toml("type = \"adamw\"", *net)->groups().size(), 2u);
  auto grouped = from_toml("type = \"sgd\"\nlr = 0.1\ngroups = [\"0.*\", \"2.*\"]\ngroup_lr = [0.01, 0.02]", *net);
  ASSERT_EQ(grouped->groups().size(), 5u);  // 0.weight | 0.bias | 2.weight | 2.bias | norms
  EXPECT_EQ(grouped->groups()[0].lr, 0.01);
  EXPECT_EQ(grouped->groups()[2].lr, 0.02);
  EXPECT_EQ(grouped->groups()[4].lr, 0.1);
  // torch's list of group tables gives the same groups; a key a group leaves out is the optimizer's.
  auto tables = from_toml("type = \"sgd\"\nlr = 0.1\nweight_decay = 0.5\n"
                          "groups = [{ params = \"0.*\", lr = 0.01 }, { params = \"2.*\", weight_decay = 0.25 }]", *net);
  ASSERT_EQ(tables->groups().size(), 5u);
  EXPECT_EQ(tables->groups()[0].lr, 0.01);
  EXPECT_EQ(tables->groups()[0].weight_decay, 0.5);
  EXPECT_EQ(tables->groups()[2].lr, 0.1);
  EXPECT_EQ(tables->groups()[2].weight_decay, 0.25);
  EXPECT_EQ(tables->groups()[3].weight_decay, 0.0);  // 2.bias: no_decay still applies inside a group
  EXPECT_EQ(tables->groups()[4].lr, 0.1);
  // --set overrides reach the optimizer like any key.
  Config cfg = parse_config("[data]\n[model]\ninput_shape = [3]\nlayers = [{ type = \"linear\", out_features = 2 }]\n"
                            "[optimizer]\ntype = \"adam\"\n",
                            "test.toml", {"optimizer.betas=[0.5, 0.6]"});
  EXPECT_EQ(dynamic_cast<optim::Adam&>(*optim::make_optimizer(cfg.optimizer, *net)).options().betas[0], 0.5);
}

struct ConfigError {
  const char* toml;
  const char* message;
};

const ConfigError kConfigErrors[] = {
    {"type = \"adamm\"", "test.toml: [optimizer]: unknown optimizer type 'adamm' (did you mean 'adam'?)"},
    {"type = \"lbfgs\"", "unknown optimizer type 'lbfgs' (known: sgd, adam, adamw, rmsprop, adagrad)"},
    {"type = \"sgd\"\nlr = 0.1\nmomentun = 0.9", "test.toml: [optimizer]: unknown key 'momentun' (did you mean 'momentum'?)"},
    {"type = \"adam\"\nmomentum = 0.9", "unknown key 'momentum'"},
    {"type = \"rmsprop\"\nbetas = [0.9, 0.99]", "unknown key 'betas'"},
    {"type = \"sgd\"\nlr = 0.1\nno_decays = []", "unknown key 'no_decays' (did you mean 'no_decay'?)"},
    {"type = \"sgd\"", "missing key 'lr'"},
    {"type = \"sgd\"\nlr = \"fast\"", "key 'lr' must be a number"},
    {"type = \"adam\"\namsgrad = 1", "key 'amsgrad' must be true or false"},
    {"type = \"sgd\"\nlr = -0.1", "SGD: lr must be >= 0, got -0.1"},
    {"type = \"sgd\"\nlr = 0.1\nmomentum = -0.5", "SGD: momentum must be >= 0"},
    {"type = \"sgd\"\nlr = 0.1\ndampening = 2", "SGD: dampening must be in [0, 1]"},
    {"type = \"sgd\"\nlr = 0.1\nnesterov = true", "nesterov needs momentum > 0 and dampening = 0"},
    {"type = \"sgd\"\nlr = 0.1\nweight_decay = -1", "weight_decay must be >= 0"},
    {"type = \"adam\"\nbetas = [0.9, 0.99, 0.999]", "'betas' must be two numbers [beta1, beta2], got 3"},
    {"type = \"adam\"\nbetas = [0.9, 1.0]", "Adam: betas[1] must be in [0, 1), got 1"},
    {"type = \"adamw\"\nbetas = [-0.1, 0.9]", "AdamW: betas[0] must be in [0, 1)"},
    {"type = \"adam\"\neps = -1e-8", "Adam: eps must be >= 0"},
    {"type = \"rmsprop\"\nalpha = 1.5", "RMSprop: alpha must be in [0, 1]"},
    {"type = \"rmsprop\"\nmomentum = -1", "RMSprop: momentum must be >= 0"},
    {"type = \"adagrad\"\nlr_decay = -0.1", "Adagrad: lr_decay must be >= 0"},
    {"type = \"adagrad\"\ninitial_accumulator_value = -1", "initial_accumulator_value must be >= 0"},
    {"type = \"adam\"\ngroups = [\"0.*\"]\ngroup_lr = [0.1, 0.2]", "'group_lr' has 2 values for 1 groups"},
    {"type = \"adam\"\ngroup_weight_decay = [0.1]", "'group_weight_decay' has 1 values for 0 groups"},
    {"type = \"adam\"\ngroups = [\"head.*\"]", "test.toml: [optimizer]: groups[0]: 'head.*' matches no parameter"},
    {"type = \"adam\"\ngroups = [\"0.*\"]\ngroup_lr = [-1]", "Adam: group 0 lr must be >= 0"},
    {"type = \"adam\"\nno_decay = [\"\"]", "no_decay: empty selector"},
    {"type = \"adam\"\ngroups = [{ lr = 0.1 }]", "test.toml: [optimizer] groups[0]: missing key 'params'"},
    {"type = \"adam\"\ngroups = [{ params = \"0.*\", lrr = 0.1 }]", "groups[0]: unknown key 'lrr' (did you mean 'lr'?)"},
    {"type = \"adam\"\ngroups = [{ params = \"0.*\" }, \"2.*\"]", "groups[1]: must be a table"},
    {"type = \"adam\"\ngroup_lr = [0.1]\ngroups = [{ params = \"0.*\" }]", "give lr and weight_decay inside each group"},
    {"type = \"adam\"\ngroups = [{ params = \"head.*\", lr = 0.1 }]", "groups[0]: 'head.*' matches no parameter"},
    {"type = \"adam\"\nno_decay = [\"9.*\"]", "no_decay: '9.*' matches no parameter name"},
    {"type = \"adam\"\nno_decay = [1, 2]", "key 'no_decay' must be a string or an array of strings"},
};

TEST(Config, EveryErrorNamesTheProblem) {
  auto net = net_with_norms();
  for (const auto& e : kConfigErrors) {
    SCOPED_TRACE(e.toml);
    EXPECT_ERROR_HAS(from_toml(e.toml, *net), e.message);
  }
}

}  // namespace
