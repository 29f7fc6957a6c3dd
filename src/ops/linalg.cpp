// matmul, the fused linear layer op and linear + ReLU; all run their GEMMs through kernels::gemm.
#include <fmt/format.h>

#include <algorithm>

#include "kernels/eltwise.h"
#include "kernels/gemm.h"
#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

namespace {
// C[m,n] = op(A) op(B) with the given transposes, as a new tensor.
Tensor gemm_new(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const int64_t m = ta ? a.size(1) : a.size(0), k = ta ? a.size(0) : a.size(1);
  const int64_t n = tb ? b.size(0) : b.size(1);
  Tensor c = empty({m, n}, a.dtype());
  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::gemm(ta, tb, m, n, k, T(1), a.data<T>(), a.size(1), b.data<T>(), b.size(1), T(0), c.data<T>(), n);
  });
  return c;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(0))
    throw Error(fmt::format("matmul: shapes {} and {} do not chain (need [m, k] x [k, n])", a.shape_str(), b.shape_str()));
  check_same_dtype(a, b, "matmul");
  Tensor y = gemm_new(a, false, b, false);
  return record(Op::Matmul, y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const Need& need) {
    return Grads{need[0] ? gemm_new(g, false, b, true) : Tensor(),   // dL/dA = G B^T
                 need[1] ? gemm_new(a, true, g, false) : Tensor()};  // dL/dB = A^T G
  });
}

namespace {
void check_linear(const Tensor& x, const Tensor& w, const Tensor& b, const char* what) {
  if (x.dim() != 2 || w.dim() != 2 || x.size(1) != w.size(1))
    throw Error(fmt::format("{}: input {} does not match weight {} (need [N, in] and [out, in])", what, x.shape_str(),
                            w.shape_str()));
  check_same_dtype(x, w, what);
  if (b.defined()) {
    check_same_dtype(x, b, what);
    if (b.dim() != 1 || b.size(0) != w.size(0))
      throw Error(fmt::format("{}: bias {} does not match weight {}", what, b.shape_str(), w.shape_str()));
  }
}

// y = max(y, 0) in place: the kernel for float32, a loop for float64.
void relu_inplace(float* y, int64_t n) { kernels::relu_forward(y, y, n); }
void relu_inplace(double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0 ? y[i] : 0.0;
}

// y = x W^T + b, then max(y, 0) in place when `relu`: the bias is preloaded into every row and
// the GEMM accumulates onto it, so linear_relu is bit for bit relu(linear()) and training with
// and without the fusion follows the same trajectory.
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, const char* what, bool relu) {
  check_linear(x, w, b, what);
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  Tensor y = empty({n, out}, x.dtype());
  dispatch_float(x.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* py = y.data<T>();
    T beta = T(0);
    if (b.defined()) {
      const T* pb = b.data<T>();
#pragma omp parallel for if (n * out > 65536)
      for (int64_t i = 0; i < n; ++i) std::copy(pb, pb + out, py + i * out);
      beta = T(1);
    }
    kernels::gemm(false, true, n, out, in, T(1), x.data<T>(), in, w.data<T>(), in, beta, py, out);
    if (relu) relu_inplace(py, n * out);  // on the output while it is hot in cache
  });
  return y;
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = linear_forward(x, w, b, "linear", false);
  return record(Op::Linear, y, {x, w, b}, [x = x.detach(), w = w.detach()](const Tensor& g, const Need& need) {
    return Grads{need[0] ? gemm_new(g, false, w, false) : Tensor(),  // dL/dx = G W
                 need[1] ? gemm_new(g, true, x, false) : Tensor(),   // dL/dW = G^T x
                 need[2] ? sum(g, 0) : Tensor()};                    // dL/db = Σ_rows G
  });
}

namespace {
// out = y > 0 ? g : 0 and colsum = Σ_rows out (colsum may be null).
void relu_mask_colsum(const float* g, const float* y, float* out, float* colsum, int64_t rows, int64_t cols) {
  kernels::relu_backward_colsum(g, y, out, colsum, rows, cols);
}
void relu_mask_colsum(const double* g, const double* y, double* out, double* colsum, int64_t rows, int64_t cols) {
  if (colsum) std::fill(colsum, colsum + cols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t i = r * cols + j;
      out[i] = y[i] > 0 ? g[i] : 0.0;
      if (colsum) colsum[j] += out[i];
    }
}
}  // namespace

Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = linear_forward(x, w, b, "linear_relu", true);
  return record(Op::LinearRelu, y, {x, w, b}, [x = x.detach(), w = w.detach(), y = y.detach()](const Tensor& g,
                                                                                            const Need& need) {
    // gm = g masked by y > 0 (relu' is 0 at 0, as ops::relu), and db = Σ_rows gm, in one pass;
    // then the linear layer's GEMMs on gm.
    const int64_t rows = g.size(0), cols = g.size(1);
    Tensor gm = empty(g.shape(), g.dtype());
    Tensor db = need[2] ? empty({cols}, g.dtype()) : Tensor();
    dispatch_float(g.dtype(), "linear_relu", [&](auto tag) {
      using T = typename decltype(tag)::type;
      relu_mask_colsum(g.data<T>(), y.data<T>(), gm.data<T>(), db.defined() ? db.data<T>() : nullptr, rows, cols);
    });
    return Grads{need[0] ? gemm_new(gm, false, w, false) : Tensor(),  // dL/dx = Gm W
                 need[1] ? gemm_new(gm, true, x, false) : Tensor(),   // dL/dW = Gm^T x
                 db};                                                 // dL/db = Σ_rows Gm
  });
}

}  // namespace descent::ops
