// descent/ops.h — differentiable functions on tensors, named as PyTorch and NumPy users know them.
//
// Each primitive holds its forward (a kernel call) and, beside it, its backward; composites
// (mean, mse_loss, ...) are written from primitives and need no backward of their own.
// Elementwise arithmetic follows NumPy broadcasting; both operands must share a dtype (a double
// on one side takes the tensor's dtype). Comparisons return uint8 0/1 tensors and carry no
// gradient. Negative dims count from the end.
//
//   using namespace descent;
//   Tensor h = ops::relu(ops::linear(x, w1, b1));        // x [N, 784], w1 [256, 784], b1 [256]
//   Tensor loss = ops::cross_entropy(ops::linear(h, w2, b2), labels);
//   loss.backward();
#pragma once
#include <array>
#include <vector>

#include "descent/autograd.h"
#include "descent/tensor.h"

namespace descent {

/// a + b with broadcasting.
Tensor operator+(const Tensor& a, const Tensor& b);
/// a - b with broadcasting.
Tensor operator-(const Tensor& a, const Tensor& b);
/// a * b (elementwise) with broadcasting.
Tensor operator*(const Tensor& a, const Tensor& b);
/// a / b with broadcasting.
Tensor operator/(const Tensor& a, const Tensor& b);
/// -a.
Tensor operator-(const Tensor& a);
/// Tensor-scalar arithmetic (the scalar takes the tensor's dtype).
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

namespace ops {

// ---- elementwise ------------------------------------------------------------------------
/// a + b.
Tensor add(const Tensor& a, const Tensor& b);
/// a - b.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b.
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b.
Tensor div(const Tensor& a, const Tensor& b);
/// -x.
Tensor neg(const Tensor& x);
/// x^p for a scalar exponent p.
Tensor pow(const Tensor& x, double p);
/// e^x.
Tensor exp(const Tensor& x);
/// Natural log.
Tensor log(const Tensor& x);
/// Square root.
Tensor sqrt(const Tensor& x);
/// |x| (gradient sign(x), 0 at 0).
Tensor abs(const Tensor& x);
/// x limited to [lo, hi] (gradient 1 inside, 0 outside).
Tensor clamp(const Tensor& x, double lo, double hi);
/// x^2 (composite).
Tensor square(const Tensor& x);

// ---- activations ------------------------------------------------------------------------
/// 1 / (1 + e^-x).
Tensor sigmoid(const Tensor& x);
/// tanh x.
Tensor tanh(const Tensor& x);
/// max(x, 0).
Tensor relu(const Tensor& x);
/// x for x > 0, slope * x otherwise.
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
/// x for x > 0, alpha (e^x - 1) otherwise.
Tensor elu(const Tensor& x, double alpha = 1.0);
/// x Φ(x) (exact, erf form as torch's default).
Tensor gelu(const Tensor& x);
/// scale * elu(x, alpha) with the self-normalizing constants.
Tensor selu(const Tensor& x);
/// log(1 + e^(beta x)) / beta; linear above `threshold` as torch.
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
/// exp(x - logsumexp(x)) along dim.
Tensor softmax(const Tensor& x, int64_t dim = -1);
/// x - logsumexp(x) along dim (stable).
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

// ---- linear algebra ---------------------------------------------------------------------
/// Matrix product of 2-d tensors [m, k] x [k, n] (float32 through oneDNN).
Tensor matmul(const Tensor& a, const Tensor& b);
/// x w^T + b for x [N, in], w [out, in], b [out] (b may be undefined); one fused GEMM.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
/// relu(linear(x, w, b)) as one op, bit for bit: the ReLU runs in place on the GEMM's output (no
/// tensor of its own), and the backward masks the gradient and sums the bias gradient in one pass.
/// nn::Sequential uses it for a Linear followed by a ReLU.
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- reductions -------------------------------------------------------------------------
/// Sum of all elements (0-d).
Tensor sum(const Tensor& x);
/// Sum over one dim.
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
/// Mean of all elements (0-d).
Tensor mean(const Tensor& x);
/// Mean over one dim.
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
/// Largest element (0-d); gradient to the first arg-max.
Tensor max(const Tensor& x);
/// Largest element over one dim; gradient to the first arg-max.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
/// Index of the first largest element over one dim (int64, no gradient).
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

// ---- shape ------------------------------------------------------------------------------
/// Same data with a new shape (one extent may be -1).
Tensor reshape(const Tensor& x, const Shape& shape);
/// Flattens dims start_dim..end to one.
Tensor flatten(const Tensor& x, int64_t start_dim = 1);
/// Swaps two dims (a copy).
Tensor transpose(const Tensor& x, int64_t dim0 = 0, int64_t dim1 = 1);
/// Rows x[index[i]] along dim 0 (index int64 [K]); the batch gather.
Tensor index_select(const Tensor& x, const Tensor& index);
/// Joins tensors along dim.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 0);
/// Dtype conversion (gradient converted back).
Tensor cast(const Tensor& x, DType dtype);
/// Copy.
Tensor clone(const Tensor& x);

// ---- comparisons (uint8, no gradient) ------------------------------------------------------
/// a == b.
Tensor eq(const Tensor& a, const Tensor& b);
/// a != b.
Tensor ne(const Tensor& a, const Tensor& b);
/// a < b.
Tensor lt(const Tensor& a, const Tensor& b);
/// a <= b.
Tensor le(const Tensor& a, const Tensor& b);
/// a > b.
Tensor gt(const Tensor& a, const Tensor& b);
/// a >= b.
Tensor ge(const Tensor& a, const Tensor& b);

// ---- losses as primitives (numerical stability) ---------------------------------------------
/// How a per-sample loss is reduced.
enum class Reduction { Mean, Sum, None };

/// Options of cross_entropy, as torch.nn.functional.cross_entropy.
struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;  ///< weighted mean as torch when weights are given
  double label_smoothing = 0.0;           ///< in [0, 1)
  Tensor weight{};                        ///< per-class weights [C] (optional)
};
/// Fused log_softmax + NLL on logits [N, C] and int64 targets [N]; stable for |logits| ~ 1e4.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt = {});
/// Negative log-likelihood on log-probabilities [N, C] and int64 targets [N].
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::Mean);
/// Mean (or sum) of (a - b)^2 — the lecture's squared error (composite).
Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction = Reduction::Mean);

// ---- convolution and pooling on [N, C, H, W] (per-axis values are {h, w}) -------------------
/// Options of conv2d, as torch.nn.functional.conv2d.
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};    ///< step between windows
  std::array<int64_t, 2> padding{0, 0};   ///< zeros added on each side
  std::array<int64_t, 2> dilation{1, 1};  ///< spacing of the kernel taps (1 = dense)
  int64_t groups = 1;                     ///< input and output channels split into this many groups
};
/// Cross-correlation of x [N, C, H, W] with w [out, C/groups, kh, kw] plus b [out] (optional);
/// float32 through oneDNN, float64 through plain loops.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dOptions& opt = {});
/// relu(conv2d(x, w, b, opt)) as one op: the ReLU is the convolution's epilogue (no pass of its
/// own); nn::Sequential uses it for a Conv2d followed by a ReLU.
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dOptions& opt = {});

/// relu(max_pool2d(conv2d(x, w, b, opt))) with a 2x2 / stride 2 pool, as one op: the
/// convolution's output is pooled in oneDNN's blocked layout without a copy to NCHW, and the
/// backward builds the convolution's incoming gradient there directly. nn::Sequential uses it for
/// Conv2d -> ReLU -> MaxPool2d(2). The same values and gradients as the three ops in a row.
Tensor conv2d_pool_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dOptions& opt = {});

/// Options of max_pool2d and avg_pool2d, as torch.nn.functional.
struct Pool2dOptions {
  std::array<int64_t, 2> kernel_size{2, 2};  ///< window extent
  std::array<int64_t, 2> stride{0, 0};       ///< 0 = kernel_size (torch's default)
  std::array<int64_t, 2> padding{0, 0};      ///< implicit padding, at most half the kernel
  std::array<int64_t, 2> dilation{1, 1};     ///< tap spacing (max pooling only)
  bool ceil_mode = false;                    ///< round the output extent up
  bool count_include_pad = true;             ///< average pooling divides by the padded window
};
/// Window maxima; the gradient goes to the first arg-max of each window.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt = {});
/// relu(max_pool2d(x, opt)) as one op, which equals max_pool2d(relu(x, opt)): the max commutes
/// with the ReLU, so the ReLU runs on the pooled output and its backward needs no pass over the
/// larger input. nn::Sequential uses it for a ReLU followed by a MaxPool2d (and for
/// Conv2d -> ReLU -> MaxPool2d as conv2d then this).
Tensor max_pool2d_relu(const Tensor& x, const Pool2dOptions& opt = {});
/// Window means.
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt = {});
/// Mean over H and W: [N, C, H, W] -> [N, C] (composite).
Tensor global_avg_pool2d(const Tensor& x);
/// torch's adaptive_avg_pool2d for output sizes that divide the input (1 = global mean, [N, C, 1, 1]).
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);

// ---- normalization ----------------------------------------------------------------------
/// torch.nn.functional.batch_norm on [N, C, ...] per channel: with `training` (or without running
/// statistics) normalizes with the batch mean and biased variance and, if given, updates
/// running_mean/running_var in place (momentum, unbiased variance); otherwise uses them.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), bool training = false, double momentum = 0.1, double eps = 1e-5);
/// Normalizes over the trailing dims `normalized_shape`, then scales by weight and shifts by bias
/// (both of that shape, optional).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// ---- dropout ----------------------------------------------------------------------------
/// x · mask / (1 - p) for a uint8 mask of x's shape (1 = keep): dropout with a fixed mask.
Tensor dropout(const Tensor& x, double p, const Tensor& mask);
/// Dropout with a mask drawn from gen (keep probability 1 - p); x itself when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
/// uint8 tensor of `shape` with 1 at probability `keep`, drawn from gen.
Tensor bernoulli_mask(const Shape& shape, double keep, Generator& gen);

// ---- regression and binary losses ---------------------------------------------------------
/// Options of binary_cross_entropy_with_logits, as torch.
struct BceWithLogitsOptions {
  Reduction reduction = Reduction::Mean;  ///< how per-element losses are reduced
  Tensor weight{};                        ///< per-element rescaling, broadcast to the input (optional)
  Tensor pos_weight{};                    ///< weight of positive targets, broadcast (e.g. [C]) (optional)
};
/// Sigmoid + binary cross-entropy on logits and float targets in [0, 1] of the same shape; stable for any logit.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const BceWithLogitsOptions& opt = {});
/// Mean (or sum) of |input - target| (composite).
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// 0.5 d² for |d| < delta, delta (|d| - 0.5 delta) otherwise, d = input - target.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, double delta = 1.0);
/// huber_loss with delta = beta divided by beta (torch's smooth_l1_loss; beta = 0 is l1_loss).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, double beta = 1.0);

}  // namespace ops
}  // namespace descent
