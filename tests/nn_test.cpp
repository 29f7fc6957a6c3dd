// Layer modules: BatchNorm running statistics and modes, Dropout masks and modes, Conv2d init,
// state_dict names, and building models from config (shape inference, every error a user can
// make in a [model] table). Numerics of the ops behind them are in nn_numerics_test.cpp.
//
// To add a case: a TEST below; config errors go through build() with the offending layer and
// EXPECT_ERROR with a fragment the message must contain.
#include "descent/nn.h"

#include <gtest/gtest.h>

#include <cmath>

#include "descent/config.h"
#include "descent/loss.h"
#include "descent/ops.h"

using namespace descent;

namespace {

// Expects statement to throw descent::Error whose message contains `fragment`.
#define EXPECT_ERROR(statement, fragment)                                                            \
  do {                                                                                               \
    try {                                                                                            \
      statement;                                                                                     \
      ADD_FAILURE() << "no error thrown, expected one containing '" << (fragment) << "'";            \
    } catch (const Error& e) {                                                                       \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what(); \
    }                                                                                                \
  } while (0)

// A model from a [model] table given as TOML (input_shape and layers).
std::shared_ptr<nn::Sequential> build(const std::string& model_toml, DType dtype = DType::F32) {
  Config cfg =
      parse_config("[data]\nname = \"fashion-mnist\"\n[model]\n" + model_toml + "\n[optimizer]\nlr = 0.1\n", "t.toml");
  return nn::build_model(cfg.model, dtype, 0);
}

Tensor randn(const Shape& s, uint64_t seed, DType d = DType::F64) {
  Generator gen(seed);
  return normal(s, 0.5, 2.0, gen, d);
}

// ---- BatchNorm -------------------------------------------------------------------------------

// After several training steps the running statistics follow
// running = (1 - m) running + m batch, with the unbiased batch variance, from mean 0 / var 1.
TEST(BatchNorm, RunningStatisticsFollowTheFormula) {
  const double m = 0.3;
  nn::BatchNorm2d bn(2, {.momentum = m, .dtype = DType::F64});
  std::vector<double> rm = {0, 0}, rv = {1, 1};
  for (int step = 0; step < 4; ++step) {
    Tensor x = randn({3 + step, 2, 2, 3}, 10 + step);
    bn(x);
    const int64_t n = x.size(0) * 6;  // values per channel
    for (int64_t c = 0; c < 2; ++c) {
      double mean = 0, var = 0;
      std::vector<double> v;
      for (int64_t i = 0; i < x.size(0); ++i)
        for (int64_t j = 0; j < 6; ++j) v.push_back(x.at({i, c, j / 3, j % 3}));
      for (double e : v) mean += e / static_cast<double>(n);
      for (double e : v) var += (e - mean) * (e - mean) / static_cast<double>(n - 1);
      rm[c] = (1 - m) * rm[c] + m * mean;
      rv[c] = (1 - m) * rv[c] + m * var;
    }
    EXPECT_NEAR(bn.running_mean.at({0}), rm[0], 1e-12) << "step " << step;
    EXPECT_NEAR(bn.running_mean.at({1}), rm[1], 1e-12) << "step " << step;
    EXPECT_NEAR(bn.running_var.at({0}), rv[0], 1e-12) << "step " << step;
    EXPECT_NEAR(bn.running_var.at({1}), rv[1], 1e-12) << "step " << step;
  }
  EXPECT_EQ(bn.num_batches_tracked.item(), 4);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::I64);
}

// torch's momentum=None (`momentum = "none"` in config): the running statistics are the plain
// average over every batch seen, whatever their sizes.
TEST(BatchNorm, CumulativeAverageIsTheMeanOfTheBatchStatistics) {
  auto net = build("input_shape = [2]\nlayers = [{ type = \"batch_norm1d\", momentum = \"none\" }]", DType::F64);
  auto* bn = dynamic_cast<nn::BatchNorm*>(net->children().front().second.get());
  ASSERT_NE(bn, nullptr);
  EXPECT_NE(bn->describe().find("momentum=None"), std::string::npos) << bn->describe();
  std::vector<double> sum_mean = {0, 0}, sum_var = {0, 0};
  for (int step = 0; step < 5; ++step) {
    Tensor x = randn({4 + step, 2}, 40 + step);
    (*net)(x);
    const auto n = static_cast<double>(x.size(0));
    for (int64_t c = 0; c < 2; ++c) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < x.size(0); ++i) mean += x.at({i, c}) / n;
      for (int64_t i = 0; i < x.size(0); ++i) var += (x.at({i, c}) - mean) * (x.at({i, c}) - mean) / (n - 1);
      sum_mean[c] += mean;
      sum_var[c] += var;
      EXPECT_NEAR(bn->running_mean.at({c}), sum_mean[c] / (step + 1), 1e-12) << "step " << step;
      EXPECT_NEAR(bn->running_var.at({c}), sum_var[c] / (step + 1), 1e-12) << "step " << step;
    }
  }
  EXPECT_ERROR(build("input_shape = [2]\nlayers = [{ type = \"batch_norm1d\", momentum = \"None\" }]"),
               "momentum must be a number in [0, 1] or \"none\"");
}

TEST(BatchNorm, EvalModeUsesRunningStatisticsAndLeavesThem) {
  nn::BatchNorm1d bn(3, {.dtype = DType::F64});
  for (int i = 0; i < 5; ++i) bn(randn({8, 3}, 20 + i));
  bn.weight.copy_(from_vector({2.0, 0.5, 1.0}, {3}));
  bn.bias.copy_(from_vector({0.1, 0.2, -0.3}, {3}));
  const std::vector<double> rm = bn.running_mean.to_vector(), rv = bn.running_var.to_vector();
  bn.eval();
  Tensor x = randn({4, 3}, 30);
  Tensor y = bn(x);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_NEAR(y.at({i, c}), (x.at({i, c}) - rm[c]) / std::sqrt(rv[c] + 1e-5) * bn.weight.at({c}) + bn.bias.at({c}),
                  1e-12);
  EXPECT_EQ(bn.running_mean.to_vector(), rm);  // evaluation does not update the statistics
  EXPECT_EQ(bn.num_batches_tracked.item(), 5);
  // A single sample is fine in eval mode, an error in training (no variance to estimate).
  EXPECT_NO_THROW(bn(randn({1, 3}, 31)));
  bn.train();
  EXPECT_ERROR(bn(randn({1, 3}, 31)), "more than 1 value per channel");
}

TEST(BatchNorm, WithoutRunningStatsAlwaysUsesTheBatch) {
  nn::BatchNorm1d bn(2, {.affine = false, .track_running_stats = false, .dtype = DType::F64});
  EXPECT_TRUE(bn.state_dict().empty());
  bn.eval();
  Tensor y = bn(randn({6, 2}, 40));
  EXPECT_NEAR(ops::mean(y).item(), 0.0, 1e-12);  // normalized with its own batch statistics
  EXPECT_NEAR(ops::mean(y * y).item(), 1.0, 1e-4);
}

TEST(BatchNorm, StateDictNamesAsPyTorch) {
  auto net = build(
      "input_shape = [1, 8, 8]\nlayers = [{ type = \"conv2d\", out_channels = 4, kernel_size = 3 }, "
      "{ type = \"batch_norm2d\" }, { type = \"relu\" }, { type = \"flatten\" }, "
      "{ type = \"linear\", out_features = 3 }, { type = \"batch_norm1d\", momentum = 0.2 }]");
  std::vector<std::string> names;
  for (auto& [n, t] : net->state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                             "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias", "5.weight",
                                             "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked"}));
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(net->at(1));
  ASSERT_TRUE(bn);
  EXPECT_EQ(bn->weight.to_vector(), std::vector<double>(4, 1.0));  // γ = 1
  EXPECT_EQ(bn->bias.to_vector(), std::vector<double>(4, 0.0));    // β = 0
  net->to(DType::F64);  // float buffers follow the dtype, the step count stays int64
  EXPECT_EQ(bn->running_var.dtype(), DType::F64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::I64);
}

// ---- Dropout ---------------------------------------------------------------------------------

TEST(Dropout, ScalesInTrainingAndIsIdentityInEval) {
  nn::Dropout d(0.3, 7);
  Tensor x = full({200, 500}, 2.0, DType::F64).requires_grad_();
  Tensor y = d(x);
  int64_t zeros = 0;
  for (double v : y.to_vector()) {
    if (v == 0.0)
      ++zeros;
    else
      EXPECT_DOUBLE_EQ(v, 2.0 / 0.7);  // inverted scaling keeps the expectation
  }
  // 100k Bernoulli(0.3) draws: the fraction is within 0.3 ± 0.006 (4 standard deviations).
  EXPECT_NEAR(static_cast<double>(zeros) / 1e5, 0.3, 0.006);
  ops::sum(y).backward();  // gradient = mask / (1 - p)
  std::vector<double> g = x.grad().to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_DOUBLE_EQ(g[i], yv[i] == 0.0 ? 0.0 : 1.0 / 0.7);
  d.eval();
  EXPECT_EQ(d(x).to_vector(), x.to_vector());
}

// Dropout2d zeroes whole feature maps (each (sample, channel) is kept or dropped as one) with
// inverted scaling; identity in eval; the gradient flows through the same mask.
TEST(Dropout, Dropout2dDropsWholeChannels) {
  auto net = build("input_shape = [6, 3, 4]\nlayers = [{ type = \"dropout2d\", p = 0.5 }]", DType::F64);
  Tensor x = (randn({5, 6, 3, 4}, 3) + 10.0).requires_grad_();  // no element is 0 by chance
  Tensor y = (*net)(x);
  int64_t dropped = 0;
  for (int64_t n = 0; n < 5; ++n)
    for (int64_t c = 0; c < 6; ++c) {
      const bool zero = y.at({n, c, 0, 0}) == 0.0;
      dropped += zero;
      for (int64_t i = 0; i < 12; ++i) {
        const double expect = zero ? 0.0 : 2.0 * x.at({n, c, i / 4, i % 4});
        EXPECT_DOUBLE_EQ(y.at({n, c, i / 4, i % 4}), expect) << n << "," << c << "," << i;
      }
    }
  EXPECT_GT(dropped, 5);  // 30 maps at p = 0.5: about 15 dropped
  EXPECT_LT(dropped, 25);
  ops::sum(y).backward();
  for (int64_t n = 0; n < 5; ++n)
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(x.grad().at({n, c, 2, 3}), y.at({n, c, 0, 0}) == 0.0 ? 0.0 : 2.0);
  net->eval();
  Tensor z = randn({2, 6, 3, 4}, 4);
  EXPECT_EQ((*net)(z).to_vector(), z.to_vector());
  EXPECT_ERROR(build("input_shape = [10]\nlayers = [{ type = \"dropout2d\" }]"), "dropout2d");
}

TEST(Dropout, SameSeedSameMasks) {
  nn::Dropout a(0.5, 11), b(0.5, 11), c(0.5, 12);
  Tensor x = ones({64, 32});
  Tensor a1 = a(x), b1 = b(x), c1 = c(x);
  EXPECT_EQ(a1.to_vector(), b1.to_vector());
  EXPECT_NE(a1.to_vector(), c1.to_vector());
  EXPECT_NE(a(x).to_vector(), a1.to_vector());  // the generator advances: a new mask per step
  nn::Dropout all(1.0, 0);
  EXPECT_EQ(ops::sum(all(x)).item(), 0.0);  // p = 1 drops everything, as torch
  EXPECT_ERROR(nn::Dropout(1.5), "p must be in [0, 1]");
}

TEST(Dropout, FactorySeedsFromTheRunSeed) {
  const std::string model = "input_shape = [16]\nlayers = [{ type = \"dropout\", p = 0.5 }]";
  Tensor x = ones({8, 16});
  Config cfg =
      parse_config("[data]\nname = \"fashion-mnist\"\n[model]\n" + model + "\n[optimizer]\nlr = 0.1\n", "t.toml");
  auto a = nn::build_model(cfg.model, DType::F32, 1), b = nn::build_model(cfg.model, DType::F32, 1),
       c = nn::build_model(cfg.model, DType::F32, 2);
  EXPECT_EQ((*a)(x).to_vector(), (*b)(x).to_vector());
  EXPECT_NE((*a)(x).to_vector(), (*c)(x).to_vector());
}

// ---- Conv2d / pooling modules ------------------------------------------------------------------

TEST(Conv2dModule, DefaultInitAsTorch) {
  nn::Conv2d conv(6, 16, {5, 3}, {.groups = 2, .seed = 3});
  EXPECT_EQ(conv.weight.shape(), (Shape{16, 3, 5, 3}));
  const double bound = 1.0 / std::sqrt(3.0 * 5 * 3);  // U(±1/√fan_in), fan_in = in/groups · kh · kw
  double sq = 0, mx = 0;
  for (double v : conv.weight.to_vector()) sq += v * v, mx = std::max(mx, std::abs(v));
  EXPECT_LE(mx, bound);
  // the variance of U(-b, b) is b²/3; 720 draws put the estimate within ~15 %
  EXPECT_NEAR(sq / 720, bound * bound / 3, 0.15 * bound * bound / 3);
  for (double v : conv.bias.to_vector()) EXPECT_LE(std::abs(v), bound);
  EXPECT_EQ(conv.describe(), "Conv2d(6, 16, kernel_size=(5, 3), stride=(1, 1), groups=2)");
  EXPECT_ERROR(conv(zeros({1, 4, 8, 8})), "expected [N, 6, H, W]");
}

TEST(Conv2dModule, OutputShapesMatchTheForward) {
  auto net = build(
      "input_shape = [3, 17, 15]\nlayers = ["
      "{ type = \"conv2d\", out_channels = 8, kernel_size = [3, 5], stride = 2, padding = [1, 2], dilation = [2, 1] },"
      "{ type = \"max_pool2d\", kernel_size = 3, stride = 2, padding = 1, ceil_mode = true },"
      "{ type = \"conv2d\", out_channels = 8, kernel_size = 3, padding = \"same\", groups = 4, bias = false },"
      "{ type = \"avg_pool2d\", kernel_size = 2, count_include_pad = false },"
      "{ type = \"batch_norm2d\" },"
      "{ type = \"adaptive_avg_pool2d\", output_size = 1 },"
      "{ type = \"flatten\" }]");
  Shape s = {3, 17, 15};
  Tensor x = zeros({2, 3, 17, 15});
  for (size_t i = 0; i < net->size(); ++i) {
    s = net->at(i)->output_shape(s);
    x = (*net->at(i))(x);
    Shape batch = {2};
    batch.insert(batch.end(), s.begin(), s.end());
    EXPECT_EQ(x.shape(), batch) << "layer " << i << " " << net->at(i)->describe();
  }
  EXPECT_EQ(s, (Shape{8}));
}

// Sequential's fusions (Linear/Conv2d + ReLU, ReLU + MaxPool2d, Conv2d + ReLU + MaxPool2d) give
// the layer-by-layer values and gradients bit for bit; an observer turns them off, so the two
// runs below take the two paths. float32, so the oneDNN kernels are the ones compared.
TEST(Sequential, FusedLayersEqualTheLayersOneByOne) {
  auto make = [] {
    return build(
        "input_shape = [2, 12, 12]\nlayers = ["
        "{ type = \"conv2d\", out_channels = 6, kernel_size = 3 }, { type = \"relu\" }, { type = \"max_pool2d\", kernel_size = 2 },"
        "{ type = \"conv2d\", out_channels = 8, kernel_size = 3, padding = 1 }, { type = \"batch_norm2d\" }, { type = \"relu\" },"
        "{ type = \"max_pool2d\", kernel_size = 2 }, { type = \"conv2d\", out_channels = 4, kernel_size = 1 }, { type = \"relu\" },"
        "{ type = \"flatten\" }, { type = \"linear\", out_features = 16 }, { type = \"relu\" }, { type = \"linear\", out_features = 3 }]");
  };
  Tensor x = randn({5, 2, 12, 12}, 11, DType::F32);
  std::vector<std::vector<double>> runs[2];
  for (int observed = 0; observed < 2; ++observed) {
    auto net = make();
    size_t seen = 0;
    if (observed) net->set_observer([&](size_t, const Tensor&) { ++seen; });
    Tensor y = (*net)(x);
    ops::sum(ops::mul(y, y)).backward();
    runs[observed].push_back(y.to_vector());
    for (const Tensor& p : net->parameters()) runs[observed].push_back(p.grad().to_vector());
    if (observed) {
      EXPECT_EQ(seen, net->size()) << "the observer sees every layer";
    }
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t k = 0; k < runs[0].size(); ++k) EXPECT_EQ(runs[0][k], runs[1][k]) << (k ? "gradient " : "output ") << k;
}

// The CNN: in_channels and in_features are inferred along the chain.
TEST(Factory, FashionCnnChain) {
  auto net = build(
      "input_shape = [1, 28, 28]\nlayers = ["
      "{ type = \"conv2d\", out_channels = 32, kernel_size = 3 }, { type = \"relu\" },"
      "{ type = \"max_pool2d\", kernel_size = 2 },"
      "{ type = \"conv2d\", out_channels = 64, kernel_size = 3 }, { type = \"relu\" },"
      "{ type = \"max_pool2d\", kernel_size = 2 }, { type = \"flatten\" },"
      "{ type = \"linear\", out_features = 128 }, { type = \"relu\" },"
      "{ type = \"dropout\", p = 0.25 }, { type = \"linear\", out_features = 10 }]");
  std::string s = nn::summary(*net, {1, 28, 28});
  for (const char* want :
       {"[32, 26, 26]", "[32, 13, 13]", "[64, 11, 11]", "[64, 5, 5]", "[1600]",
        "Linear(in_features=1600, out_features=128", "Dropout(p=0.25)", "MaxPool2d(kernel_size=(2, 2)"})
    EXPECT_NE(s.find(want), std::string::npos) << want << " missing in\n" << s;
  // 320 + 18496 + 204928 + 1290 parameters, as torchsummary counts them
  EXPECT_NE(s.find("total parameters: 225034"), std::string::npos) << s;
}

TEST(Factory, NormalizationLayersInferTheirSizes) {
  auto net = build(
      "input_shape = [6, 4]\nlayers = [{ type = \"layer_norm\" }, { type = \"batch_norm1d\", eps = 1e-3 },"
      "{ type = \"layer_norm\", normalized_shape = [6, 4], elementwise_affine = false }]");
  EXPECT_EQ(net->named_parameters().size(), 4u);  // layer_norm [4] weight and bias, batch_norm1d [6] weight and bias
  EXPECT_EQ(net->at(0)->parameters()[0].shape(), (Shape{4}));
  EXPECT_EQ(std::dynamic_pointer_cast<nn::BatchNorm>(net->at(1))->num_features(), 6);
  EXPECT_EQ((*net)(randn({3, 6, 4}, 50, DType::F32)).shape(), (Shape{3, 6, 4}));
}

TEST(Factory, ConfigErrorsNameTheProblem) {
  const std::string head = "input_shape = [1, 28, 28]\nlayers = [";
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8, kernel_size = 3, dilaton = 2 }]"),
               "did you mean 'dilation'");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8, kernel_size = 3, strides = 2 }]"), "strides");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8 }]"), "kernel_size");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", in_channels = 3, out_channels = 8, kernel_size = 3 }]"),
               "in_channels = 3 but the previous layer gives 1");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8, kernel_size = 29 }]"), "does not fit");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8, kernel_size = 4, padding = \"same\" }]"), "uneven");
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 6, kernel_size = 3, groups = 4 }]"), "groups");
  EXPECT_ERROR(build(head + "{ type = \"flatten\" }, { type = \"conv2d\", out_channels = 8, kernel_size = 3 }]"),
               "needs a per-sample input [C, H, W]");
  EXPECT_ERROR(build("input_shape = [784]\nlayers = [{ type = \"conv2d\", out_channels = 8, kernel_size = 3 }]"),
               "input_shape = [C, H, W]");
  EXPECT_ERROR(build(head + "{ type = \"max_pool2d\" }]"), "kernel_size");
  EXPECT_ERROR(build(head + "{ type = \"max_pool2d\", kernel_size = 2, padding = 2 }]"), "half the kernel");
  EXPECT_ERROR(build(head + "{ type = \"avg_pool2d\", kernel_size = 2, dilation = 2 }]"), "dilation");  // max only
  EXPECT_ERROR(build(head + "{ type = \"batch_norm1d\" }]"), "batch_norm1d needs a per-sample input [F]");
  EXPECT_ERROR(build("input_shape = [10]\nlayers = [{ type = \"batch_norm2d\" }]"), "[C, H, W]");
  EXPECT_ERROR(build(head + "{ type = \"batch_norm2d\", num_features = 3 }]"), "num_features = 3");
  EXPECT_ERROR(build(head + "{ type = \"batch_norm2d\", momentum = 2.0 }]"), "momentum");
  EXPECT_ERROR(build("input_shape = [10]\nlayers = [{ type = \"layer_norm\", normalized_shape = 5 }]"),
               "normalized_shape");
  EXPECT_ERROR(build("input_shape = [10]\nlayers = [{ type = \"dropout\", p = -0.1 }]"), "p must be in [0, 1]");
  EXPECT_ERROR(build("input_shape = [10]\nlayers = [{ type = \"dropout\", rate = 0.1 }]"), "rate");
  EXPECT_ERROR(build(head + "{ type = \"adaptive_avg_pool2d\", output_size = 3 }]"), "must divide");
  EXPECT_ERROR(build(head + "{ type = \"conv2D\", out_channels = 8, kernel_size = 3 }]"), "did you mean 'conv2d'");
  // A chain that does not fit is reported with the layer that breaks it.
  EXPECT_ERROR(build(head + "{ type = \"conv2d\", out_channels = 8, kernel_size = 3 }, { type = \"flatten\" },"
                            "{ type = \"linear\", in_features = 784, out_features = 10 }]"),
               "in_features = 784 but the previous layer gives 5408");
}

// ---- losses from config --------------------------------------------------------------------------

Args loss_args(std::initializer_list<std::pair<std::string, ArgValue>> kv) {
  Args a("t.toml: [loss]");
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

TEST(LossConfig, NewTypesWithTorchArguments) {
  Tensor out = from_vector({0.5, -1.0, 2.0, 0.0}, {2, 2}, DType::F64),
         t = from_vector({1.0, 0.0, 0.0, 2.5}, {2, 2}, DType::F64);
  auto l1 = loss::make_loss(loss_args({{"type", std::string("l1")}}));
  EXPECT_NEAR((*l1)(out, t).item(), (0.5 + 1.0 + 2.0 + 2.5) / 4, 1e-12);
  auto huber =
      loss::make_loss(loss_args({{"type", std::string("huber")}, {"delta", 1.5}, {"reduction", std::string("sum")}}));
  EXPECT_NEAR((*huber)(out, t).item(), 0.125 + 0.5 + 1.5 * (2.0 - 0.75) + 1.5 * (2.5 - 0.75), 1e-12);
  auto sl1 = loss::make_loss(loss_args({{"type", std::string("smooth_l1")}, {"beta", 2.0}}));
  EXPECT_NEAR((*sl1)(out, t).item(), (0.0625 + 0.25 + 1.0 + 1.5) / 4, 1e-12);
  auto bce =
      loss::make_loss(loss_args({{"type", std::string("bce_with_logits")}, {"pos_weight", std::vector<double>{2.0}}}));
  EXPECT_EQ(bce->name(), "bce_with_logits");
  // integer labels against a single logit column: label 1 costs 2·softplus(-x), label 0 softplus(x)
  Tensor logit = from_vector({0.3, -0.7}, {2, 1}, DType::F64), lab = from_vector({1, 0}, {2}, DType::I64);
  EXPECT_NEAR((*bce)(logit, lab).item(), (2 * std::log1p(std::exp(-0.3)) + std::log1p(std::exp(-0.7))) / 2, 1e-12);
  EXPECT_ERROR(loss::make_loss(loss_args({{"type", std::string("l1")}, {"delta", 1.0}})), "delta");
  EXPECT_ERROR(loss::make_loss(loss_args({{"type", std::string("huber")}, {"delta", 0.0}})), "delta must be positive");
  EXPECT_ERROR(loss::make_loss(loss_args({{"type", std::string("smooth_l2")}})), "did you mean 'smooth_l1'");
  EXPECT_ERROR((*l1)(out, from_vector({1, 2, 3}, {3}, DType::F64)), "differ in shape");
}

}  // namespace
