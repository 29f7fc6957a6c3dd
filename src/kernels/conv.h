// Kernels: 2-d convolution on raw NCHW pointers (level 0: includes nothing of ours).
//
// float32 runs through oneDNN primitives (forward, backward-data, backward-weights). Their
// primitive descriptors, primitives and layout reorders are built once per shape and kept in a
// cache, so a training step creates nothing; reorder buffers come from a grow-only scratch
// arena shared by all shapes. float64 runs through plain loops: it serves gradient checks.
// Layouts are PyTorch's: x [n, c, h, w], weight [oc, c / groups, kh, kw], y [n, oc, oh, ow].
#pragma once
#include <cstddef>
#include <cstdint>

namespace descent::kernels {

/// Geometry of one convolution; dilation 1 means none (PyTorch's convention).
struct Conv2dShape {
  int64_t n, c, h, w;  ///< input
  int64_t oc, kh, kw;  ///< weight [oc, c / groups, kh, kw]
  int64_t oh, ow;      ///< output spatial extent (from conv2d_out_size)
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t groups;
};

/// Output extent along one axis: floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1.
int64_t conv2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil);

/// y = conv(x, w) + b (b may be null), then max(y, 0) when relu (a oneDNN post-op: no extra pass
/// over y); y is assigned.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, bool relu = false);
void conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* b, double* y,
                    bool relu = false);

/// Gradients from gy: gx (data), gw (weights), gb (bias); each may be null to skip it. Assigned.
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
                     float* gb);
void conv2d_backward(const Conv2dShape& s, const double* x, const double* w, const double* gy, double* gx, double* gw,
                     double* gb);

/// relu(max_pool2d(conv2d(x, w) + b)) with a 2x2 / stride 2 pool (floor mode), as one call: the
/// convolution's output stays in oneDNN's blocked layout and is pooled there (kernels/
/// blocked_pool.h); only the pooled y [n, oc, oh / 2, ow / 2] is reordered to NCHW. When code is
/// not null it receives conv2d_pool_relu_code_bytes(s) bytes for the backward (which input of
/// each window won). s.oh and s.ow must be at least 2.
size_t conv2d_pool_relu_code_bytes(const Conv2dShape& s);
void conv2d_pool_relu_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y,
                              uint8_t* code);
void conv2d_pool_relu_forward(const Conv2dShape& s, const double* x, const double* w, const double* b, double* y,
                              uint8_t* code);
/// Gradients of the fused forward from the pooled gy: the convolution's incoming gradient is built
/// in the blocked layout from the codes (no NCHW copy, no reorder), then as conv2d_backward. has_bias
/// must be what the forward had (it picks the same primitives); gx, gw, gb may be null.
void conv2d_pool_relu_backward(const Conv2dShape& s, bool has_bias, const float* x, const float* w, const float* gy,
                               const uint8_t* code, float* gx, float* gw, float* gb);
void conv2d_pool_relu_backward(const Conv2dShape& s, bool has_bias, const double* x, const double* w,
                               const double* gy, const uint8_t* code, double* gx, double* gw, double* gb);

/// Memory layout oneDNN computes in: Blocked lets it pick (reorders around the call), Plain keeps
/// NCHW (no reorders). Exposed for the benchmark that picks the default.
enum class ConvLayout { Blocked, Plain };
/// Sets the layout for the forward, backward-data and backward-weights primitives.
void set_conv_layout(ConvLayout fwd, ConvLayout bwd_data, ConvLayout bwd_weights);
/// Name of the oneDNN implementation used for a pass (0 fwd, 1 bwd data, 2 bwd weights), for benchmarks.
const char* conv2d_impl_name(const Conv2dShape& s, int pass);

}  // namespace descent::kernels
