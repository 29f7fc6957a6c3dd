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

}  // namespace ops
}  // namespace descent
