// conv2d: one primitive whose forward and backward are kernel calls (oneDNN for float32, loops
// for float64). The backward computes only the gradients the graph needs (the data batch of a
// first layer needs none), and dx/dW/db come from one kernel call so the incoming gradient is
// reordered once.
#include "kernels/conv.h"
#include "kernels/eltwise.h"

#include <fmt/format.h>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

namespace {
void relu_mask(const float* g, const float* y, float* out, int64_t n) { kernels::relu_backward(g, y, out, n); }
void relu_mask(const double* g, const double* y, double* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = y[i] > 0 ? g[i] : 0.0;
}
}  // namespace

namespace {
// conv2d, or conv2d followed by a ReLU as one op (relu): the ReLU is the forward primitive's
// post-op, and the backward masks the incoming gradient by y > 0 before the convolution's own.
Tensor conv2d_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt, bool relu) {
  if (x.dim() != 4 || w.dim() != 4)
    throw Error(fmt::format("conv2d: input {} and weight {} must be [N, C, H, W] and [out, in/groups, kh, kw]",
                            x.shape_str(), w.shape_str()));
  check_same_dtype(x, w, "conv2d");
  const int64_t g = opt.groups;
  if (g < 1 || x.size(1) % g != 0 || w.size(0) % g != 0 || w.size(1) * g != x.size(1))
    throw Error(
        fmt::format("conv2d: input {} and weight {} do not match with groups = {} (need weight [out, C/groups, kh, kw] "
                    "with C and out divisible by groups)",
                    x.shape_str(), w.shape_str(), g));
  for (int i = 0; i < 2; ++i)
    if (opt.stride[i] < 1 || opt.dilation[i] < 1 || opt.padding[i] < 0)
      throw Error(fmt::format(
          "conv2d: stride and dilation must be >= 1 and padding >= 0, got stride {}, padding {}, dilation {}",
          opt.stride[i], opt.padding[i], opt.dilation[i]));
  if (b.defined()) {
    check_same_dtype(x, b, "conv2d");
    if (b.dim() != 1 || b.size(0) != w.size(0))
      throw Error(fmt::format("conv2d: bias {} does not match weight {}", b.shape_str(), w.shape_str()));
  }
  kernels::Conv2dShape s{
      x.size(0), x.size(1),     x.size(2),     x.size(3),      w.size(0),      w.size(2),       w.size(3),       0,
      0,         opt.stride[0], opt.stride[1], opt.padding[0], opt.padding[1], opt.dilation[0], opt.dilation[1], g};
  s.oh = kernels::conv2d_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h);
  s.ow = kernels::conv2d_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w);
  if (s.oh < 1 || s.ow < 1)
    throw Error(fmt::format("conv2d: kernel {}x{} (dilation {}, padding {}) is larger than the input {}", s.kh, s.kw,
                            opt.dilation[0], opt.padding[0], x.shape_str()));
  Tensor y = empty({s.n, s.oc, s.oh, s.ow}, x.dtype());
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::conv2d_forward(s, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(), relu);
  });
  return record(relu ? Op::Conv2dRelu : Op::Conv2d, y, {x, w, b}, [x = x.detach(), w = w.detach(), s, relu,
                                                                  y = relu ? y.detach() : Tensor()](const Tensor& g,
                                                                                                    const Need& need) {
    Tensor gy = g;
    if (relu) {  // the ReLU's backward: g where y > 0, else 0
      gy = empty(g.shape(), g.dtype());
      dispatch_float(g.dtype(), "conv2d_relu", [&](auto tag) {
        using T = typename decltype(tag)::type;
        relu_mask(g.data<T>(), y.data<T>(), gy.data<T>(), g.numel());
      });
    }
    Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();  // dL/dx = conv_transpose(gy, w)
    Tensor gw = need[1] ? empty(w.shape(), w.dtype()) : Tensor();  // dL/dw = Σ_n,pos gy ⊗ x-patch
    Tensor gb = need[2] ? empty({s.oc}, x.dtype()) : Tensor();     // dL/db = Σ_n,pos gy
    dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      kernels::conv2d_backward(s, x.data<T>(), w.data<T>(), gy.data<T>(), gx.defined() ? gx.data<T>() : nullptr,
                               gw.defined() ? gw.data<T>() : nullptr, gb.defined() ? gb.data<T>() : nullptr);
    });
    return Grads{gx, gw, gb};
  });
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt) {
  return conv2d_impl(x, w, b, opt, false);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt) {
  return conv2d_impl(x, w, b, opt, true);
}

}  // namespace descent::ops
