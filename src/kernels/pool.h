// Kernels: 2-d max and average pooling on raw NCHW planes (level 0: includes nothing of ours).
//
// Each of the n·c planes is pooled independently (OpenMP over planes above a size threshold).
// The common 2x2 / stride 2 max pool has AVX-512 row kernels, picked at run time.
// Semantics are PyTorch's: padding counts as -inf for max and (with count_include_pad) as zeros
// for the average; ceil_mode windows that start inside the padded input are kept; the max
// gradient goes to the first arg-max of a window (NaN counts as the max, as in PyTorch).
#pragma once
#include <cstdint>

namespace descent::kernels {

/// Geometry of one pooling: `planes` = n·c planes of [h, w] pooled to [oh, ow].
struct Pool2dShape {
  int64_t planes, h, w, oh, ow;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;  ///< dilation 1 = none
};

/// PyTorch's pooled extent: floor or ceil of (in + 2 pad - dil (k - 1) - 1) / stride, plus 1,
/// minus 1 when ceil_mode would start the last window in the right padding.
int64_t pool2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil_mode);

/// y = max over each window, then max(y, 0) when relu (NaN stays NaN, as torch's ReLU: this is
/// relu(max_pool(x)), equal to max_pool(relu(x))). argmax, when not null, gets the flat index
/// (within the plane, so planes are limited to 2^31 elements) of each window's first maximum;
/// inference passes null and writes no indices.
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, bool relu = false);
void max_pool2d_forward(const Pool2dShape& s, const double* x, double* y, int32_t* argmax, bool relu = false);
/// gx = gy scattered to each window's arg-max (gx is assigned). With relu_y (the forward's output
/// after its ReLU), only where relu_y > 0: the fused ReLU's backward in the same pass.
void max_pool2d_backward(const Pool2dShape& s, const float* gy, const int32_t* argmax, float* gx,
                         const float* relu_y = nullptr);
void max_pool2d_backward(const Pool2dShape& s, const double* gy, const int32_t* argmax, double* gx,
                         const double* relu_y = nullptr);

/// y = window mean; the divisor counts padding when count_include_pad (dilation must be 1).
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const float* x, float* y);
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const double* x, double* y);
/// gx = gy / divisor spread over each window (gx is assigned).
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const float* gy, float* gx);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const double* gy, double* gx);

}  // namespace descent::kernels
