// Pooling: max_pool2d and avg_pool2d are primitives over the loops in kernels/pool; the global
// and adaptive average pools are composites of them (or of mean).
#include "kernels/pool.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::record;

namespace {
kernels::Pool2dShape pool_shape(const Tensor& x, const Pool2dOptions& o, const char* what) {
  if (x.dim() != 4) throw Error(fmt::format("{}: input must be [N, C, H, W], got {}", what, x.shape_str()));
  kernels::Pool2dShape s{};
  s.planes = x.size(0) * x.size(1);
  s.h = x.size(2);
  s.w = x.size(3);
  s.kh = o.kernel_size[0];
  s.kw = o.kernel_size[1];
  s.stride_h = o.stride[0] == 0 ? s.kh : o.stride[0];  // torch: stride defaults to kernel_size
  s.stride_w = o.stride[1] == 0 ? s.kw : o.stride[1];
  s.pad_h = o.padding[0];
  s.pad_w = o.padding[1];
  s.dil_h = o.dilation[0];
  s.dil_w = o.dilation[1];
  if (s.kh < 1 || s.kw < 1 || s.stride_h < 1 || s.stride_w < 1 || s.dil_h < 1 || s.dil_w < 1)
    throw Error(fmt::format("{}: kernel_size, stride and dilation must be positive", what));
  if (s.pad_h < 0 || s.pad_w < 0 || 2 * s.pad_h > s.kh || 2 * s.pad_w > s.kw)
    throw Error(fmt::format("{}: padding ({}, {}) must be between 0 and half the kernel size ({}, {})", what, s.pad_h,
                            s.pad_w, s.kh, s.kw));
  s.oh = kernels::pool2d_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h, o.ceil_mode);
  s.ow = kernels::pool2d_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w, o.ceil_mode);
  if (s.oh < 1 || s.ow < 1)
    throw Error(fmt::format("{}: kernel {}x{} does not fit the input {}", what, s.kh, s.kw, x.shape_str()));
  return s;
}
}  // namespace

namespace {
// max_pool2d, or relu(max_pool2d) as one op. The arg-max indices (int32, within the plane) are
// kept only when a gradient will flow: inference writes none. They live in a byte tensor so they
// come from the caching allocator like every other buffer of a step.
Tensor max_pool2d_impl(const Tensor& x, const Pool2dOptions& opt, bool relu) {
  const char* what = relu ? "max_pool2d_relu" : "max_pool2d";
  kernels::Pool2dShape s = pool_shape(x, opt, what);
  if (s.h * s.w > std::numeric_limits<int32_t>::max())
    throw Error(fmt::format("{}: a plane of {} has more than 2^31 elements", what, x.shape_str()));
  Tensor y = empty({x.size(0), x.size(1), s.oh, s.ow}, x.dtype());
  const bool grad = autograd::should_record({x});
  Tensor arg = grad ? empty({y.numel() * int64_t{sizeof(int32_t)}}, DType::U8) : Tensor();
  auto* arg_p = grad ? reinterpret_cast<int32_t*>(arg.data<uint8_t>()) : nullptr;
  dispatch_float(x.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::max_pool2d_forward(s, x.data<T>(), y.data<T>(), arg_p, relu);
  });
  if (!grad) return y;
  return record(relu ? Op::MaxPool2dRelu : Op::MaxPool2d, y, {x},
                [arg, s, in = x.shape(), y = relu ? y.detach() : Tensor(), what](const Tensor& g) {
                  Tensor gx = empty(in, g.dtype());  // g routed to the arg-max of its window only
                  const auto* a = reinterpret_cast<const int32_t*>(arg.data<uint8_t>());
                  dispatch_float(g.dtype(), what, [&](auto tag) {
                    using T = typename decltype(tag)::type;  // with the ReLU: only where y > 0
                    kernels::max_pool2d_backward(s, g.data<T>(), a, gx.data<T>(),
                                                 y.defined() ? y.data<T>() : nullptr);
                  });
                  return Grads{gx};
                });
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt) { return max_pool2d_impl(x, opt, false); }

Tensor max_pool2d_relu(const Tensor& x, const Pool2dOptions& opt) { return max_pool2d_impl(x, opt, true); }

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  if (opt.dilation[0] != 1 || opt.dilation[1] != 1) throw Error("avg_pool2d: dilation is not supported (as in torch)");
  kernels::Pool2dShape s = pool_shape(x, opt, "avg_pool2d");
  Tensor y = empty({x.size(0), x.size(1), s.oh, s.ow}, x.dtype());
  const bool inc = opt.count_include_pad;
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::avg_pool2d_forward(s, inc, x.data<T>(), y.data<T>());
  });
  return record(Op::AvgPool2d, y, {x}, [s, inc, in = x.shape()](const Tensor& g) {
    Tensor gx = empty(in, g.dtype());  // g / divisor to every input of the window
    dispatch_float(g.dtype(), "avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      kernels::avg_pool2d_backward(s, inc, g.data<T>(), gx.data<T>());
    });
    return Grads{gx};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  if (x.dim() != 4) throw Error(fmt::format("global_avg_pool2d: input must be [N, C, H, W], got {}", x.shape_str()));
  return mean(reshape(x, {x.size(0), x.size(1), x.size(2) * x.size(3)}), 2);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size) {
  if (x.dim() != 4) throw Error(fmt::format("adaptive_avg_pool2d: input must be [N, C, H, W], got {}", x.shape_str()));
  const int64_t oh = output_size[0], ow = output_size[1];
  if (oh == 1 && ow == 1) return reshape(global_avg_pool2d(x), {x.size(0), x.size(1), 1, 1});
  // Equal windows are an ordinary average pool; uneven ones (overlapping in torch) are not supported.
  if (oh < 1 || ow < 1 || x.size(2) % oh != 0 || x.size(3) % ow != 0)
    throw Error(fmt::format("adaptive_avg_pool2d: output size ({}, {}) must divide the input's {}x{}", oh, ow,
                            x.size(2), x.size(3)));
  const int64_t kh = x.size(2) / oh, kw = x.size(3) / ow;
  return avg_pool2d(x, {.kernel_size = {kh, kw}, .stride = {kh, kw}});
}

}  // namespace descent::ops
