// Internal helpers shared by the op files: broadcasting, dim normalisation, non-recording
// arithmetic used by backward lambdas and the engine.
#pragma once
#include <cstdint>

#include "autograd/node.h"
#include "descent/ops.h"
#include "tensor/dispatch.h"

namespace descent::ops {

/// Broadcast shape of a and b (NumPy rules); throws naming `what` and both shapes.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* what);
/// Sums g down to `shape` (undoes broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);
/// a + b without recording (the engine adds gradients with it).
Tensor add_nograd(const Tensor& a, const Tensor& b);
/// dim in [-n, n) to [0, n); throws naming `what`.
int64_t norm_dim(int64_t dim, int64_t ndim, const char* what);
/// Throws unless a and b have the same dtype.
void check_same_dtype(const Tensor& a, const Tensor& b, const char* what);
/// Elementwise y = f(x) over a floating tensor, parallel above a size threshold.
template <class T, class F>
void map_into(const T* x, T* y, int64_t n, F f) {
#pragma omp parallel for simd if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
/// Elementwise z = f(x, y) over equal-size buffers.
template <class T, class F>
void zip_into(const T* x, const T* y, T* z, int64_t n, F f) {
#pragma omp parallel for simd if (n > 32768)
  for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], y[i]);
}

}  // namespace descent::ops
