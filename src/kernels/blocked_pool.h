// Kernels: the 2x2 / stride 2 max pool + ReLU of a convolution's output, in the channel-blocked
// layout oneDNN computes convolutions in (level 0: includes nothing of ours).
//
// Layout "nChw{B}c": [n][C/B][h][w][B], B channels innermost, channels padded to a multiple of B
// (B = 1 is plain NCHW). Pooling there needs no reorder of the convolution's output to NCHW and
// back: the fused conv2d_pool_relu keeps the large tensor blocked and reorders only the 4x smaller
// pooled one. Each pooled output gets one byte: which input of its window won (0..3 in row-major
// order, the first of tied maxima, NaN wins as in PyTorch), or 4 when the output after the ReLU is
// not positive (no gradient flows). Padded channels are zeros in oneDNN's output: they pool to 0
// and get code 4.
#pragma once
#include <cstdint>

namespace descent::kernels {

/// Extent of a blocked activation: real channels c, padded to a multiple of block.
struct BlockedDims {
  int64_t n, c, h, w, block;
  int64_t padded_c() const { return (c + block - 1) / block * block; }
};

/// Code of a pooled output that passes no gradient.
inline constexpr uint8_t kPoolNoGrad = 4;

/// y [n, C/B, h/2, w/2, B] = relu(2x2 max of x [n, C/B, h, w, B]) and, when code is not null, the
/// winner codes in the same order as y.
void pool2x2_relu_blocked_forward(const BlockedDims& d, const float* x, float* y, uint8_t* code);
void pool2x2_relu_blocked_forward(const BlockedDims& d, const double* x, double* y, uint8_t* code);
/// gx [n, C/B, h, w, B] = gy [n, C/B, h/2, w/2, B] at each window's winner, 0 elsewhere (also on
/// an odd last row or column, which no window covers). gx is assigned.
void pool2x2_relu_blocked_backward(const BlockedDims& d, const float* gy, const uint8_t* code, float* gx);
void pool2x2_relu_blocked_backward(const BlockedDims& d, const double* gy, const uint8_t* code, double* gx);

}  // namespace descent::kernels
