// batch_norm and layer_norm: primitives with a fused backward through the batch (or row) mean
// and variance — one pass for Σg and Σg·x̂, one for dx — instead of a dozen composite ops.
#include "kernels/norm.h"

#include <fmt/format.h>

#include <cmath>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

namespace {
void check_param(const Tensor& t, const Tensor& x, const Shape& shape, const char* what, const char* name) {
  if (!t.defined()) return;
  check_same_dtype(x, t, what);
  if (t.shape() != shape)
    throw Error(fmt::format("{}: {} has shape {}, expected {}", what, name, t.shape_str(), shape_str(shape)));
}
Tensor detach_or_none(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }
template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* ptr_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  if (x.dim() < 2) throw Error(fmt::format("batch_norm: input must be [N, C, ...], got {}", x.shape_str()));
  const int64_t outer = x.size(0), c = x.size(1), inner = x.numel() / std::max<int64_t>(outer * c, 1);
  check_param(weight, x, {c}, "batch_norm", "weight");
  check_param(bias, x, {c}, "batch_norm", "bias");
  check_param(running_mean, x, {c}, "batch_norm", "running_mean");
  check_param(running_var, x, {c}, "batch_norm", "running_var");
  if (running_mean.defined() != running_var.defined())
    throw Error("batch_norm: give both running_mean and running_var, or neither");
  // Without running statistics there is nothing else to normalize with (torch does the same).
  const bool batch_stats = training || !running_mean.defined();
  const int64_t m = outer * inner;
  if (batch_stats && m < 2)
    throw Error(
        fmt::format("batch_norm: expected more than 1 value per channel when training, got input {}", x.shape_str()));
  Tensor mean = empty({c}, DType::F64), invstd = empty({c}, DType::F64);
  double* pm = mean.data<double>();
  double* ps = invstd.data<double>();
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (batch_stats) {
      Tensor var = empty({c}, DType::F64);
      double* pv = var.data<double>();
      kernels::batch_norm_stats(x.data<T>(), outer, c, inner, pm, pv);
      for (int64_t k = 0; k < c; ++k) ps[k] = 1.0 / std::sqrt(pv[k] + eps);
      if (training && running_mean.defined()) {
        // running = (1 - m) running + m batch, with the unbiased variance (PyTorch's convention)
        Tensor rm_t = running_mean, rv_t = running_var;  // handles: the buffers are updated in place
        T* rm = rm_t.data<T>();
        T* rv = rv_t.data<T>();
        const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
        for (int64_t k = 0; k < c; ++k) {
          rm[k] = static_cast<T>((1 - momentum) * rm[k] + momentum * pm[k]);
          rv[k] = static_cast<T>((1 - momentum) * rv[k] + momentum * pv[k] * unbias);
        }
      }
    } else {
      const T* rm = running_mean.data<T>();
      const T* rv = running_var.data<T>();
      for (int64_t k = 0; k < c; ++k) {
        pm[k] = rm[k];
        ps[k] = 1.0 / std::sqrt(static_cast<double>(rv[k]) + eps);
      }
    }
    kernels::batch_norm_apply(x.data<T>(), outer, c, inner, pm, ps, ptr_or_null<T>(weight), ptr_or_null<T>(bias),
                              y.data<T>());
  });
  return record(Op::BatchNorm, y, {x, weight, bias},
                [x = x.detach(), w = detach_or_none(weight), mean, invstd, batch_stats, outer, c, inner](
                    const Tensor& g, const Need& need) {
                  // dx = w σ⁻¹ (g - mean(g) - x̂ mean(g x̂)) with batch statistics, w σ⁻¹ g with running ones;
                  // dw = Σ g x̂; db = Σ g (sums over N and the spatial positions of each channel)
                  Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();
                  Tensor gw = need[1] ? empty({c}, x.dtype()) : Tensor();
                  Tensor gb = need[2] ? empty({c}, x.dtype()) : Tensor();
                  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    kernels::batch_norm_backward(x.data<T>(), g.data<T>(), outer, c, inner, mean.data<double>(),
                                                 invstd.data<double>(), ptr_or_null<T>(w), batch_stats,
                                                 ptr_or_null<T>(gx), ptr_or_null<T>(gw), ptr_or_null<T>(gb));
                  });
                  return Grads{gx, gw, gb};
                });
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const auto k = static_cast<int64_t>(normalized_shape.size());
  bool ok = k >= 1 && k <= x.dim();
  for (int64_t i = 0; ok && i < k; ++i) ok = x.size(x.dim() - k + i) == normalized_shape[static_cast<size_t>(i)];
  if (!ok)
    throw Error(fmt::format("layer_norm: normalized_shape {} is not the trailing shape of the input {}",
                            shape_str(normalized_shape), x.shape_str()));
  const int64_t d = shape_numel(normalized_shape), rows = x.numel() / d;
  check_param(weight, x, normalized_shape, "layer_norm", "weight");
  check_param(bias, x, normalized_shape, "layer_norm", "bias");
  Tensor mean = empty({rows}, DType::F64), invstd = empty({rows}, DType::F64);
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::layer_norm_forward(x.data<T>(), rows, d, ptr_or_null<T>(weight), ptr_or_null<T>(bias), eps, y.data<T>(),
                                mean.data<double>(), invstd.data<double>());
  });
  return record(Op::LayerNorm, y, {x, weight, bias},
                [x = x.detach(), w = detach_or_none(weight), mean, invstd, rows, d, normalized_shape](
                    const Tensor& g, const Need& need) {
                  // dx = σ⁻¹ (g w - mean(g w) - x̂ mean(g w x̂)) per row; dw = Σ_rows g x̂; db = Σ_rows g
                  Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();
                  Tensor gw = need[1] ? empty(normalized_shape, x.dtype()) : Tensor();
                  Tensor gb = need[2] ? empty(normalized_shape, x.dtype()) : Tensor();
                  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    kernels::layer_norm_backward(x.data<T>(), g.data<T>(), rows, d, mean.data<double>(),
                                                 invstd.data<double>(), ptr_or_null<T>(w), ptr_or_null<T>(gx),
                                                 ptr_or_null<T>(gw), ptr_or_null<T>(gb));
                  });
                  return Grads{gx, gw, gb};
                });
}

}  // namespace descent::ops
