// matmul and the fused linear layer op; both run their GEMMs through kernels::gemm.
#include <fmt/format.h>

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

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (x.dim() != 2 || w.dim() != 2 || x.size(1) != w.size(1))
    throw Error(fmt::format("linear: input {} does not match weight {} (need [N, in] and [out, in])", x.shape_str(),
                            w.shape_str()));
  check_same_dtype(x, w, "linear");
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  if (b.defined()) {
    check_same_dtype(x, b, "linear");
    if (b.dim() != 1 || b.size(0) != out)
      throw Error(fmt::format("linear: bias {} does not match weight {}", b.shape_str(), w.shape_str()));
  }
  Tensor y = empty({n, out}, x.dtype());
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* py = y.data<T>();
    T beta = T(0);
    if (b.defined()) {  // preload the bias into every row, then accumulate the GEMM onto it
      const T* pb = b.data<T>();
#pragma omp parallel for if (n * out > 65536)
      for (int64_t i = 0; i < n; ++i) std::copy(pb, pb + out, py + i * out);
      beta = T(1);
    }
    kernels::gemm(false, true, n, out, in, T(1), x.data<T>(), in, w.data<T>(), in, beta, py, out);
  });
  return record(Op::Linear, y, {x, w, b}, [x = x.detach(), w = w.detach()](const Tensor& g, const Need& need) {
    return Grads{need[0] ? gemm_new(g, false, w, false) : Tensor(),  // dL/dx = G W
                 need[1] ? gemm_new(g, true, x, false) : Tensor(),   // dL/dW = G^T x
                 need[2] ? sum(g, 0) : Tensor()};                    // dL/db = Σ_rows G
  });
}

}  // namespace descent::ops
