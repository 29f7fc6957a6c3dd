// Elementwise ReLU passes and fused epilogues (see eltwise.h).
//
// The serial range kernels carry target_clones: the library is compiled for the baseline x86-64
// ISA (4-wide SSE2), and these memory-bound loops run 2-4x faster with 16-wide AVX-512 compares
// and masked stores. The OpenMP wrappers stay outside the clones (an outlined parallel body would
// not be cloned with them).
#include "kernels/eltwise.h"

#include <omp.h>

#include <algorithm>

namespace descent::kernels {
namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define DESCENT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DESCENT_CLONES
#endif

DESCENT_CLONES void relu_range(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
DESCENT_CLONES void relu_inplace_range(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}
DESCENT_CLONES void relu_bwd_range(const float* __restrict g, const float* __restrict y, float* __restrict out,
                                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = y[i] > 0.0f ? g[i] : 0.0f;
}
DESCENT_CLONES void relu_bwd_inplace_range(float* g, const float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = y[i] > 0.0f ? g[i] : 0.0f;
}
DESCENT_CLONES void bias_relu_row(float* __restrict y, const float* __restrict b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float v = y[j] + b[j];
    y[j] = v > 0.0f ? v : 0.0f;
  }
}
DESCENT_CLONES void bias_row(float* __restrict y, const float* __restrict b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += b[j];
}
// One row of the linear + ReLU backward: mask, store, and add into the bias gradient.
DESCENT_CLONES void relu_bwd_colsum_row(const float* __restrict g, const float* __restrict y, float* __restrict out,
                                        float* __restrict colsum, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float v = y[j] > 0.0f ? g[j] : 0.0f;
    out[j] = v;
    colsum[j] += v;
  }
}

// Runs f(begin, end) over [0, n) in one chunk per thread when n is large, else on the caller.
template <class F>
void chunked(int64_t n, F f) {
  if (n < kParallelMin || omp_get_max_threads() == 1) return f(int64_t{0}, n);
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk = (n + nt - 1) / nt / 16 * 16 + 16;  // 64-byte aligned chunk starts
    const int64_t b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
  chunked(n, [&](int64_t b, int64_t e) {
    if (x == y) relu_inplace_range(y + b, e - b);
    else relu_range(x + b, y + b, e - b);
  });
}

void relu_backward(const float* g, const float* y, float* out, int64_t n) {
  chunked(n, [&](int64_t b, int64_t e) {
    if (g == out) relu_bwd_inplace_range(out + b, y + b, e - b);
    else relu_bwd_range(g + b, y + b, out + b, e - b);
  });
}

void bias_act_rows(float* y, const float* b, int64_t rows, int64_t cols, bool relu) {
  if (!b) {
    if (relu) relu_forward(y, y, rows * cols);
    return;
  }
  auto row = [&](int64_t r) {
    if (relu) bias_relu_row(y + r * cols, b, cols);
    else bias_row(y + r * cols, b, cols);
  };
  if (rows * cols < kParallelMin || omp_get_max_threads() == 1) {
    for (int64_t r = 0; r < rows; ++r) row(r);
    return;
  }
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) row(r);
}

void relu_backward_colsum(const float* g, const float* y, float* out, float* colsum, int64_t rows, int64_t cols) {
  if (!colsum) return relu_backward(g, y, out, rows * cols);
  // Serial: the column sums would need a per-thread copy and a reduction, and the linear layers
  // this serves are [batch, features] blocks of a few hundred KB at most.
  std::fill(colsum, colsum + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) relu_bwd_colsum_row(g + r * cols, y + r * cols, out + r * cols, colsum, cols);
}

}  // namespace descent::kernels
