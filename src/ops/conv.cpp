// conv2d: one primitive whose forward and backward are kernel calls (oneDNN for float32, loops
// for float64). The backward computes only the gradients the graph needs (the data batch of a
// first layer needs none), and dx/dW/db come from one kernel call so the incoming gradient is
// reordered once. conv2d_relu and conv2d_pool_relu are the fused forms nn::Sequential uses.
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

// Checks the arguments of a convolution and returns its geometry; `what` names the op in errors.
kernels::Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt,
                                const char* what) {
  if (x.dim() != 4 || w.dim() != 4)
    throw Error(fmt::format("{}: input {} and weight {} must be [N, C, H, W] and [out, in/groups, kh, kw]", what,
                            x.shape_str(), w.shape_str()));
  check_same_dtype(x, w, what);
  const int64_t g = opt.groups;
  if (g < 1 || x.size(1) % g != 0 || w.size(0) % g != 0 || w.size(1) * g != x.size(1))
    throw Error(
        fmt::format("{}: input {} and weight {} do not match with groups = {} (need weight [out, C/groups, kh, kw] "
                    "with C and out divisible by groups)",
                    what, x.shape_str(), w.shape_str(), g));
  for (int i = 0; i < 2; ++i)
    if (opt.stride[i] < 1 || opt.dilation[i] < 1 || opt.padding[i] < 0)
      throw Error(fmt::format(
          "{}: stride and dilation must be >= 1 and padding >= 0, got stride {}, padding {}, dilation {}", what,
          opt.stride[i], opt.padding[i], opt.dilation[i]));
  if (b.defined()) {
    check_same_dtype(x, b, what);
    if (b.dim() != 1 || b.size(0) != w.size(0))
      throw Error(fmt::format("{}: bias {} does not match weight {}", what, b.shape_str(), w.shape_str()));
  }
  kernels::Conv2dShape s{
      x.size(0), x.size(1),     x.size(2),     x.size(3),      w.size(0),      w.size(2),       w.size(3),       0,
      0,         opt.stride[0], opt.stride[1], opt.padding[0], opt.padding[1], opt.dilation[0], opt.dilation[1], g};
  s.oh = kernels::conv2d_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h);
  s.ow = kernels::conv2d_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w);
  if (s.oh < 1 || s.ow < 1)
    throw Error(fmt::format("{}: kernel {}x{} (dilation {}, padding {}) is larger than the input {}", what, s.kh, s.kw,
                            opt.dilation[0], opt.padding[0], x.shape_str()));
  return s;
}

// conv2d, or conv2d followed by a ReLU as one op (relu): the ReLU is the forward primitive's
// post-op, and the backward masks the incoming gradient by y > 0 before the convolution's own.
Tensor conv2d_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt, bool relu) {
  const kernels::Conv2dShape s = conv_shape(x, w, b, opt, "conv2d");
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

Tensor conv2d_pool_relu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt) {
  const kernels::Conv2dShape s = conv_shape(x, w, b, opt, "conv2d_pool_relu");
  if (s.oh < 2 || s.ow < 2)
    throw Error(fmt::format("conv2d_pool_relu: the convolution's output {}x{} is smaller than the 2x2 pool", s.oh,
                            s.ow));
  Tensor y = empty({s.n, s.oc, s.oh / 2, s.ow / 2}, x.dtype());
  // Which input of each window won (one byte per pooled output), kept only when a gradient flows.
  const bool grad = autograd::should_record({x, w, b});
  Tensor code = grad ? empty({static_cast<int64_t>(kernels::conv2d_pool_relu_code_bytes(s))}, DType::U8) : Tensor();
  dispatch_float(x.dtype(), "conv2d_pool_relu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::conv2d_pool_relu_forward(s, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(),
                                      grad ? code.data<uint8_t>() : nullptr);
  });
  if (!grad) return y;
  return record(Op::Conv2dPoolRelu, y, {x, w, b},
                [x = x.detach(), w = w.detach(), s, code, has_bias = b.defined()](const Tensor& g, const Need& need) {
                  Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();
                  Tensor gw = need[1] ? empty(w.shape(), w.dtype()) : Tensor();
                  Tensor gb = need[2] ? empty({s.oc}, x.dtype()) : Tensor();
                  dispatch_float(x.dtype(), "conv2d_pool_relu", [&](auto tag) {
                    using T = typename decltype(tag)::type;  // g at each window's winner, then the conv's backward
                    kernels::conv2d_pool_relu_backward(s, has_bias, x.data<T>(), w.data<T>(), g.data<T>(),
                                                       code.data<uint8_t>(), gx.defined() ? gx.data<T>() : nullptr,
                                                       gw.defined() ? gw.data<T>() : nullptr,
                                                       gb.defined() ? gb.data<T>() : nullptr);
                  });
                  return Grads{gx, gw, gb};
                });
}

}  // namespace descent::ops
