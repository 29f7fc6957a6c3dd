// Gradient checks: one table row per op case (plain, broadcast, 0-d), each run through
// descent::gradcheck in float64 with the project's fixed tolerances.
//
// To add a case: append a row to kCases() with the Op it covers, a name, the function of the
// inputs, and the input shapes with the domain to draw them from (move the domain away from kinks
// and poles instead of loosening tolerances). A new differentiable Op without a row makes
// EveryOpHasARow fail.
#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "descent/gradcheck.h"
#include "descent/ops.h"

using namespace descent;

namespace {

struct Input {
  Shape shape;
  double lo = -1.0, hi = 1.0;
  bool away_from_zero = false;  // keep |x| >= 0.1 (ReLU, abs kinks)
  bool distinct = false;        // a shuffled grid over [lo, hi]: no two values closer than its step (max-pool ties)
};

struct Case {
  Op op;
  std::string name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<Input> inputs;
};

Tensor labels() { return from_vector({0, 2, 1, 2}, {4}, DType::I64); }

// A fixed dropout mask of the given shape: every third element dropped.
Tensor fixed_mask(const Shape& shape) {
  Tensor m = zeros(shape, DType::U8);
  for (int64_t i = 0; i < m.numel(); ++i) m.data<uint8_t>()[i] = i % 3 == 1 ? 0 : 1;
  return m;
}

const std::vector<Case>& kCases() {
  static const std::vector<Case> cases = {
      {Op::Add, "plain", [](auto& x) { return x[0] + x[1]; }, {{{3, 4}}, {{3, 4}}}},
      {Op::Add, "broadcast", [](auto& x) { return x[0] + x[1]; }, {{{3, 4}}, {{4}}}},
      {Op::Add, "0-d", [](auto& x) { return x[0] + x[1]; }, {{{}}, {{2, 3}}}},
      {Op::Sub, "plain", [](auto& x) { return x[0] - x[1]; }, {{{3, 4}}, {{3, 4}}}},
      {Op::Sub, "broadcast", [](auto& x) { return x[0] - x[1]; }, {{{3, 1}}, {{1, 4}}}},
      {Op::Sub, "0-d", [](auto& x) { return x[0] - x[1]; }, {{{}}, {{}}}},
      {Op::Mul, "plain", [](auto& x) { return x[0] * x[1]; }, {{{3, 4}}, {{3, 4}}}},
      {Op::Mul, "broadcast", [](auto& x) { return x[0] * x[1]; }, {{{2, 3, 4}}, {{3, 1}}}},
      {Op::Mul, "0-d", [](auto& x) { return x[0] * x[1]; }, {{{}}, {{3}}}},
      {Op::Div, "plain", [](auto& x) { return x[0] / x[1]; }, {{{3, 4}}, {{3, 4}, 0.5, 2.0}}},
      {Op::Div, "broadcast", [](auto& x) { return x[0] / x[1]; }, {{{3, 4}}, {{4}, 0.5, 2.0}}},
      {Op::Div, "0-d", [](auto& x) { return x[0] / x[1]; }, {{{}}, {{}, 0.5, 2.0}}},
      {Op::Neg, "plain", [](auto& x) { return -x[0]; }, {{{3, 4}}}},
      {Op::Neg, "0-d", [](auto& x) { return -x[0]; }, {{{}}}},
      {Op::PowScalar, "plain", [](auto& x) { return ops::pow(x[0], 2.5); }, {{{3, 4}, 0.5, 2.0}}},
      {Op::PowScalar, "0-d", [](auto& x) { return ops::pow(x[0], -1.5); }, {{{}, 0.5, 2.0}}},
      {Op::Exp, "plain", [](auto& x) { return ops::exp(x[0]); }, {{{3, 4}}}},
      {Op::Exp, "0-d", [](auto& x) { return ops::exp(x[0]); }, {{{}}}},
      {Op::Log, "plain", [](auto& x) { return ops::log(x[0]); }, {{{3, 4}, 0.5, 2.0}}},
      {Op::Log, "0-d", [](auto& x) { return ops::log(x[0]); }, {{{}, 0.5, 2.0}}},
      {Op::Sqrt, "plain", [](auto& x) { return ops::sqrt(x[0]); }, {{{3, 4}, 0.5, 2.0}}},
      {Op::Abs, "plain", [](auto& x) { return ops::abs(x[0]); }, {{{3, 4}, -1, 1, true}}},
      {Op::Clamp, "plain", [](auto& x) { return ops::clamp(x[0], -0.5, 0.5); }, {{{4, 5}, -1, 1, true}}},
      {Op::Sigmoid, "plain", [](auto& x) { return ops::sigmoid(x[0]); }, {{{3, 4}, -3, 3}}},
      {Op::Sigmoid, "0-d", [](auto& x) { return ops::sigmoid(x[0]); }, {{{}}}},
      {Op::Tanh, "plain", [](auto& x) { return ops::tanh(x[0]); }, {{{3, 4}, -2, 2}}},
      {Op::Relu, "plain", [](auto& x) { return ops::relu(x[0]); }, {{{3, 4}, -1, 1, true}}},
      {Op::LeakyRelu, "plain", [](auto& x) { return ops::leaky_relu(x[0], 0.2); }, {{{3, 4}, -1, 1, true}}},
      {Op::Elu, "plain", [](auto& x) { return ops::elu(x[0], 0.7); }, {{{3, 4}, -2, 2, true}}},
      {Op::Gelu, "plain", [](auto& x) { return ops::gelu(x[0]); }, {{{3, 4}, -3, 3}}},
      {Op::Selu, "plain", [](auto& x) { return ops::selu(x[0]); }, {{{3, 4}, -2, 2, true}}},
      {Op::Softplus, "plain", [](auto& x) { return ops::softplus(x[0], 2.0); }, {{{3, 4}, -3, 3}}},
      {Op::Matmul, "plain", [](auto& x) { return ops::matmul(x[0], x[1]); }, {{{3, 5}}, {{5, 4}}}},
      {Op::Linear, "with bias", [](auto& x) { return ops::linear(x[0], x[1], x[2]); }, {{{4, 5}}, {{3, 5}}, {{3}}}},
      {Op::Linear, "no bias", [](auto& x) { return ops::linear(x[0], x[1]); }, {{{4, 5}}, {{3, 5}}}},
      {Op::LinearRelu, "with bias", [](auto& x) { return ops::linear_relu(x[0], x[1], x[2]); },
       {{{4, 5}}, {{3, 5}}, {{3}}}},
      {Op::LinearRelu, "no bias", [](auto& x) { return ops::linear_relu(x[0], x[1]); }, {{{4, 5}}, {{3, 5}}}},
      {Op::Sum, "plain", [](auto& x) { return ops::sum(x[0]); }, {{{3, 4}}}},
      {Op::Sum, "0-d", [](auto& x) { return ops::sum(x[0]); }, {{{}}}},
      {Op::SumDim, "dim 0", [](auto& x) { return ops::sum(x[0], 0); }, {{{3, 4}}}},
      {Op::SumDim, "dim -1 keepdim", [](auto& x) { return ops::sum(x[0], -1, true); }, {{{2, 3, 4}}}},
      {Op::SumDim, "mean dim 1", [](auto& x) { return ops::mean(x[0], 1); }, {{{2, 3, 4}}}},
      {Op::MaxAll, "plain", [](auto& x) { return ops::max(x[0]); }, {{{3, 4}}}},
      {Op::MaxDim, "dim 1", [](auto& x) { return ops::max(x[0], 1); }, {{{3, 4}}}},
      {Op::MaxDim, "dim 0 keepdim", [](auto& x) { return ops::max(x[0], 0, true); }, {{{3, 4, 2}}}},
      {Op::Reshape, "plain", [](auto& x) { return ops::reshape(x[0], {4, -1}) * x[1]; }, {{{2, 6}}, {{4, 3}}}},
      {Op::Transpose, "2-d", [](auto& x) { return ops::transpose(x[0]) * x[1]; }, {{{3, 4}}, {{4, 3}}}},
      {Op::Transpose, "3-d", [](auto& x) { return ops::transpose(x[0], 0, 2); }, {{{2, 3, 4}}}},
      {Op::IndexSelect, "repeated rows",
       [](auto& x) { return ops::index_select(x[0], from_vector({2, 0, 2}, {3}, DType::I64)); }, {{{3, 4}}}},
      {Op::Concat, "dim 0", [](auto& x) { return ops::concat({x[0], x[1]}, 0); }, {{{2, 3}}, {{1, 3}}}},
      {Op::Concat, "dim 1", [](auto& x) { return ops::concat({x[0], x[1]}, 1); }, {{{2, 3}}, {{2, 2}}}},
      {Op::Cast, "f64-f32-f64", [](auto& x) { return ops::cast(ops::cast(x[0], DType::F32), DType::F64) * 0.0 + x[0]; },
       {{{3}}}},
      {Op::Clone, "plain", [](auto& x) { return ops::clone(x[0]) * x[0]; }, {{{3, 4}}}},
      {Op::Softmax, "dim -1", [](auto& x) { return ops::softmax(x[0], -1); }, {{{3, 4}, -2, 2}}},
      {Op::Softmax, "dim 0", [](auto& x) { return ops::softmax(x[0], 0); }, {{{3, 4}, -2, 2}}},
      {Op::LogSoftmax, "dim -1", [](auto& x) { return ops::log_softmax(x[0], -1); }, {{{3, 4}, -2, 2}}},
      {Op::LogSoftmax, "dim 1 of 3-d", [](auto& x) { return ops::log_softmax(x[0], 1); }, {{{2, 3, 2}, -2, 2}}},
      {Op::CrossEntropy, "mean", [](auto& x) { return ops::cross_entropy(x[0], labels()); }, {{{4, 3}, -2, 2}}},
      {Op::CrossEntropy, "sum smoothing",
       [](auto& x) { return ops::cross_entropy(x[0], labels(), {.reduction = ops::Reduction::Sum, .label_smoothing = 0.1}); },
       {{{4, 3}, -2, 2}}},
      {Op::CrossEntropy, "none weighted",
       [](auto& x) {
         return ops::cross_entropy(x[0], labels(), {.reduction = ops::Reduction::None, .label_smoothing = 0.2,
                                                    .weight = from_vector({0.5, 2.0, 1.0}, {3}, DType::F64)});
       },
       {{{4, 3}, -2, 2}}},
      {Op::CrossEntropy, "weighted mean",
       [](auto& x) {
         return ops::cross_entropy(x[0], labels(), {.label_smoothing = 0.1, .weight = from_vector({0.5, 2.0, 1.0}, {3}, DType::F64)});
       },
       {{{4, 3}, -2, 2}}},
      {Op::NllLoss, "mean", [](auto& x) { return ops::nll_loss(ops::log_softmax(x[0]), labels()); }, {{{4, 3}}}},
      {Op::NllLoss, "none", [](auto& x) { return ops::nll_loss(x[0], labels(), ops::Reduction::None); }, {{{4, 3}}}},
      {Op::Conv2d, "stride 2 padding 1 bias",
       [](auto& x) { return ops::conv2d(x[0], x[1], x[2], {.stride = {2, 2}, .padding = {1, 1}}); },
       {{{2, 3, 7, 6}}, {{4, 3, 3, 3}}, {{4}}}},
      {Op::Conv2d, "dilation 2 stride (1, 2) no bias",
       [](auto& x) { return ops::conv2d(x[0], x[1], Tensor(), {.stride = {1, 2}, .dilation = {2, 1}}); },
       {{{1, 2, 8, 7}}, {{3, 2, 3, 2}}}},
      {Op::Conv2d, "groups 2 padding (1, 0)",
       [](auto& x) { return ops::conv2d(x[0], x[1], x[2], {.padding = {1, 0}, .groups = 2}); },
       {{{2, 4, 5, 5}}, {{6, 2, 3, 3}}, {{6}}}},
      {Op::Conv2dRelu, "padding 1 bias",
       [](auto& x) { return ops::conv2d_relu(x[0], x[1], x[2], {.padding = {1, 1}}); },
       {{{2, 3, 5, 6}}, {{4, 3, 3, 3}}, {{4}}}},
      {Op::Conv2dRelu, "stride 2 no bias",
       [](auto& x) { return ops::conv2d_relu(x[0], x[1], Tensor(), {.stride = {2, 2}}); },
       {{{1, 2, 7, 7}}, {{3, 2, 3, 3}}}},
      {Op::MaxPool2d, "2x2",
       [](auto& x) { return ops::max_pool2d(x[0]); }, {{{2, 3, 5, 7}, -1, 1, false, true}}},
      {Op::MaxPool2d, "3x3 stride 2 padding 1 overlapping",
       [](auto& x) { return ops::max_pool2d(x[0], {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}); },
       {{{2, 2, 7, 6}, -1, 1, false, true}}},
      {Op::MaxPool2d, "ceil_mode dilation 2",
       [](auto& x) { return ops::max_pool2d(x[0], {.kernel_size = {2, 2}, .stride = {2, 1}, .dilation = {2, 2}, .ceil_mode = true}); },
       {{{1, 2, 7, 6}, -1, 1, false, true}}},
      {Op::Conv2dPoolRelu, "bias, odd output 5x7",
       [](auto& x) { return ops::conv2d_pool_relu(x[0], x[1], x[2]); }, {{{2, 3, 7, 9}}, {{4, 3, 3, 3}}, {{4}}}},
      {Op::Conv2dPoolRelu, "no bias, padding 1 stride 2",
       [](auto& x) { return ops::conv2d_pool_relu(x[0], x[1], Tensor(), {.stride = {2, 2}, .padding = {1, 1}}); },
       {{{1, 2, 8, 8}}, {{3, 2, 3, 3}}}},
      {Op::MaxPool2dRelu, "2x2 odd extent",
       [](auto& x) { return ops::max_pool2d_relu(x[0]); }, {{{2, 3, 5, 7}, -1, 1, true, true}}},
      {Op::MaxPool2dRelu, "3x3 stride 2 padding 1 overlapping",
       [](auto& x) { return ops::max_pool2d_relu(x[0], {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}); },
       {{{2, 2, 7, 6}, -1, 1, true, true}}},  // away from 0: the ReLU's kink
      {Op::AvgPool2d, "2x2", [](auto& x) { return ops::avg_pool2d(x[0]); }, {{{2, 3, 4, 6}}}},
      {Op::AvgPool2d, "3x3 stride 2 padding 1 count_include_pad",
       [](auto& x) { return ops::avg_pool2d(x[0], {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}); },
       {{{2, 2, 7, 6}}}},
      {Op::AvgPool2d, "exclude pad ceil_mode",
       [](auto& x) {
         return ops::avg_pool2d(x[0], {.kernel_size = {3, 2}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true,
                                       .count_include_pad = false});
       },
       {{{1, 2, 6, 5}}}},
      {Op::AvgPool2d, "adaptive 2x2 of 4x6", [](auto& x) { return ops::adaptive_avg_pool2d(x[0], {2, 2}); }, {{{2, 2, 4, 6}}}},
      {Op::SumDim, "global_avg_pool2d", [](auto& x) { return ops::global_avg_pool2d(x[0]); }, {{{2, 3, 4, 5}}}},
      {Op::BatchNorm, "train 1d",
       [](auto& x) { return ops::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); },
       {{{6, 4}, -2, 2}, {{4}, 0.5, 2.0}, {{4}}}},
      {Op::BatchNorm, "train 2d with running stats",
       [](auto& x) {
         Tensor rm = zeros({2}, DType::F64), rv = ones({2}, DType::F64);
         return ops::batch_norm(x[0], rm, rv, x[1], x[2], true, 0.1, 1e-5);
       },
       {{{3, 2, 3, 3}, -2, 2}, {{2}, 0.5, 2.0}, {{2}}}},
      {Op::BatchNorm, "train 1d no affine", [](auto& x) { return ops::batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
       {{{5, 3}, -2, 2}}},
      {Op::BatchNorm, "eval 2d running stats",
       [](auto& x) {
         Tensor rm = from_vector({0.3, -0.2}, {2}, DType::F64), rv = from_vector({0.5, 2.0}, {2}, DType::F64);
         return ops::batch_norm(x[0], rm, rv, x[1], x[2], false);
       },
       {{{2, 2, 3, 2}, -2, 2}, {{2}, 0.5, 2.0}, {{2}}}},
      {Op::LayerNorm, "last dim", [](auto& x) { return ops::layer_norm(x[0], {5}, x[1], x[2]); },
       {{{3, 5}, -2, 2}, {{5}, 0.5, 2.0}, {{5}}}},
      {Op::LayerNorm, "last two dims", [](auto& x) { return ops::layer_norm(x[0], {3, 4}, x[1], x[2], 1e-3); },
       {{{2, 3, 4}, -2, 2}, {{3, 4}, 0.5, 2.0}, {{3, 4}}}},
      {Op::LayerNorm, "no affine", [](auto& x) { return ops::layer_norm(x[0], {4}); }, {{{3, 4}, -2, 2}}},
      {Op::Dropout, "fixed mask p 0.3", [](auto& x) { return ops::dropout(x[0], 0.3, fixed_mask({3, 4})); }, {{{3, 4}}}},
      {Op::BceWithLogits, "mean", [](auto& x) { return ops::binary_cross_entropy_with_logits(x[0], x[1]); },
       {{{4, 3}, -3, 3}, {{4, 3}, 0, 1}}},
      {Op::BceWithLogits, "sum pos_weight weight",
       [](auto& x) {
         return ops::binary_cross_entropy_with_logits(
             x[0], x[1], {.reduction = ops::Reduction::Sum, .weight = from_vector({0.5, 2.0, 1.0}, {3}, DType::F64),
                          .pos_weight = from_vector({3.0, 0.5, 1.0}, {3}, DType::F64)});
       },
       {{{4, 3}, -3, 3}, {{4, 3}, 0, 1}}},
      {Op::BceWithLogits, "none large logits",
       [](auto& x) { return ops::binary_cross_entropy_with_logits(x[0] * 30.0, x[1], {.reduction = ops::Reduction::None}); },
       {{{5}, -1, 1}, {{5}, 0, 1}}},
      {Op::HuberLoss, "huber delta 0.5", [](auto& x) { return ops::huber_loss(x[0], x[1], ops::Reduction::Mean, 0.5); },
       {{{3, 4}, -1, 1}, {{3, 4}, -1, 1}}},
      {Op::HuberLoss, "smooth_l1 beta 0.3 none",
       [](auto& x) { return ops::smooth_l1_loss(x[0], x[1], ops::Reduction::None, 0.3); }, {{{3, 4}, -1, 1}, {{3, 4}, -1, 1}}},
      {Op::Abs, "l1_loss", [](auto& x) { return ops::l1_loss(x[0], x[1]); }, {{{3, 4}, 0.2, 1}, {{3, 4}, -1, -0.2}}},
  };
  return cases;
}

std::vector<Tensor> make_inputs(const Case& c, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> xs;
  for (const Input& in : c.inputs) {
    Tensor t = uniform(in.shape, in.lo, in.hi, gen, DType::F64);
    if (in.distinct) {  // k/n on a grid, shuffled: gaps of (hi - lo)/n >> the difference step
      double* p = t.data<double>();
      const int64_t n = t.numel();
      for (int64_t i = 0; i < n; ++i) p[i] = in.lo + (in.hi - in.lo) * static_cast<double>(i) / static_cast<double>(n);
      for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen.below(static_cast<uint64_t>(i + 1))]);
    }
    if (in.away_from_zero) {
      double* p = t.data<double>();
      for (int64_t i = 0; i < t.numel(); ++i)
        if (std::abs(p[i]) < 0.1) p[i] = p[i] < 0 ? -0.1 - p[i] : 0.1 + p[i];
    }
    xs.push_back(t.requires_grad_());
  }
  return xs;
}

class OpGradient : public ::testing::TestWithParam<size_t> {};

TEST_P(OpGradient, MatchesCentralDifferences) {
  const Case& c = kCases()[GetParam()];
  auto xs = make_inputs(c, 1234 + GetParam());
  GradcheckResult r = gradcheck(c.fn, xs);
  EXPECT_TRUE(r.ok) << op_name(c.op) << " [" << c.name << "]: " << r.message;
  EXPECT_GT(r.checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Table, OpGradient, ::testing::Range<size_t>(0, kCases().size()),
                         [](const auto& info) {
                           const Case& c = kCases()[info.param];
                           std::string n = std::string(op_name(c.op)) + "_" + c.name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n + "_" + std::to_string(info.param);
                         });

// Every differentiable op must have at least one row in the table.
TEST(GradcheckTable, EveryOpHasARow) {
  std::set<Op> covered;
  for (const Case& c : kCases()) covered.insert(c.op);
  for (size_t i = 0; i < static_cast<size_t>(Op::Count); ++i)
    EXPECT_TRUE(covered.count(static_cast<Op>(i))) << "no gradcheck row for op '" << op_name(static_cast<Op>(i)) << "'";
}

// gradcheck itself must catch a wrong derivative.
TEST(Gradcheck, DetectsAWrongGradient) {
  Generator gen(0);
  Tensor x = uniform({5}, 0.5, 1.5, gen, DType::F64).requires_grad_();
  // d/dx of x*x computed as if x were a constant on one side: 1x instead of 2x.
  auto wrong = [](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); };
  GradcheckResult r = gradcheck(wrong, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.input, 0);
  EXPECT_NEAR(r.numeric, 2.0 * r.analytic, 1e-6);
}

TEST(Gradcheck, RejectsFloat32Inputs) {
  Tensor x = ones({3}).requires_grad_();
  EXPECT_THROW(gradcheck([](const auto& in) { return in[0] * 2.0; }, {x}), Error);
}

}  // namespace
