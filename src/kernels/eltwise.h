// Kernels: the hot elementwise passes of training on raw float32 pointers (level 0: includes
// nothing of ours) — ReLU forward and backward, and the epilogues of a fused linear/conv + ReLU.
//
// Each is one streaming pass, branch-free (a ReLU's sign pattern is random, so a compare-and-jump
// mispredicts half the time) and compiled for AVX-512, AVX2 and the baseline, picked at load time
// (the library itself is built for the baseline ISA). They run on the calling thread below
// kParallelMin elements: an OpenMP fork/join costs more than a 128x256 pass, and on a loaded
// machine a parked second thread can cost a whole time slice.
#pragma once
#include <cstdint>

namespace descent::kernels {

/// Elements from which the passes split over the OpenMP threads.
inline constexpr int64_t kParallelMin = int64_t{1} << 18;

/// y = max(x, 0) (NaN gives 0, as x > 0 ? x : 0). x and y may be the same buffer.
void relu_forward(const float* x, float* y, int64_t n);
/// out = y > 0 ? g : 0, with y the ReLU's output (the mask of the positive inputs). out may be g.
void relu_backward(const float* g, const float* y, float* out, int64_t n);
/// In place on a row-major [rows, cols] block: y = y + b[col] (b may be null), then max(., 0) if relu.
void bias_act_rows(float* y, const float* b, int64_t rows, int64_t cols, bool relu);
/// out = y > 0 ? g : 0 on [rows, cols], and colsum[j] = Σ_rows out[., j] when colsum is not null.
void relu_backward_colsum(const float* g, const float* y, float* out, float* colsum, int64_t rows, int64_t cols);

}  // namespace descent::kernels
