// batch_norm and layer_norm: primitives with a fused backward through the batch (or row) mean
// and variance — one pass for Σg and Σg·x̂, one for dx — instead of a dozen composite ops.
#include "kernels/norm.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "ops/internal.h"
#include "ops/norm_sync.h"

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

// ---- sync batch norm (see ops/norm_sync.h) ----
thread_local BatchNormSync g_sync;

// Turns this rank's per-channel mean/var of m values into those of every rank; returns the count.
double global_stats(const BatchNormSync& sync, int64_t c, double m, double* mean, double* var) {
  std::vector<double> buf(static_cast<size_t>(c) + 1), local(mean, mean + c);
  for (int64_t k = 0; k < c; ++k) buf[k] = m * mean[k];
  buf[c] = m;
  sync.stat_sum(buf.data(), c + 1);
  const double total = buf[c];
  if (total < 2) throw Error(fmt::format("batch_norm: expected more than 1 value per channel over all ranks, got {}", total));
  for (int64_t k = 0; k < c; ++k) mean[k] = buf[k] / total;
  // Chan: M2 = Σ_r m_r·(var_r + (mean_r - mean)²), free of the E[x²] - mean² cancellation
  for (int64_t k = 0; k < c; ++k) buf[k] = m * (var[k] + (local[k] - mean[k]) * (local[k] - mean[k]));
  sync.stat_sum(buf.data(), c);
  for (int64_t k = 0; k < c; ++k) var[k] = buf[k] / total;
  return total;
}

// The batch-statistics backward with Σg and Σg·(x-μ) taken over every rank (`total` values).
template <class T>
void synced_backward(const BatchNormSync& sync, const T* x, const T* gy, int64_t outer, int64_t c, int64_t inner,
                     const double* mean, const double* invstd, const T* w, double total, T* gx, T* gw, T* gb) {
  std::vector<double> s(2 * static_cast<size_t>(c), 0.0);  // [Σg per channel, Σg·(x-μ) per channel]
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (o * c + ch) * inner + i;
        s[ch] += gy[at];
        s[c + ch] += gy[at] * (x[at] - mean[ch]);
      }
  for (int64_t ch = 0; ch < c; ++ch) {  // this rank's part of dw, db: the gradient all-reduce adds them
    if (gw) gw[ch] = static_cast<T>(s[c + ch] * invstd[ch]);
    if (gb) gb[ch] = static_cast<T>(s[ch]);
  }
  sync.grad_sum(s.data(), 2 * c);
  if (!gx) return;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t ch = 0; ch < c; ++ch) {
      const double k = (w ? static_cast<double>(w[ch]) : 1.0) * invstd[ch];
      const double a = s[ch] / total, b = s[c + ch] / total * invstd[ch] * invstd[ch];
      const int64_t at = (o * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i)  // dx = k·(g - Σg/M - x̂·Σg·x̂/M) over the global batch
        gx[at + i] = static_cast<T>(k * (gy[at + i] - a - (x[at + i] - mean[ch]) * b));
    }
}
}  // namespace

void set_batch_norm_sync(BatchNormSync sync) { g_sync = std::move(sync); }
const BatchNormSync& batch_norm_sync() { return g_sync; }

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
  // Sync batch norm (data-parallel training) only in training: evaluation shards need no agreement.
  const BatchNormSync sync = training && g_sync.stat_sum ? g_sync : BatchNormSync{};
  const bool synced = static_cast<bool>(sync.stat_sum);
  double count = static_cast<double>(m);
  if (batch_stats && m < 2 && !synced)
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
      if (synced) count = global_stats(sync, c, static_cast<double>(m), pm, pv);
      for (int64_t k = 0; k < c; ++k) ps[k] = 1.0 / std::sqrt(pv[k] + eps);
      if (training && running_mean.defined()) {
        // running = (1 - m) running + m batch, with the unbiased variance (PyTorch's convention)
        Tensor rm_t = running_mean, rv_t = running_var;  // handles: the buffers are updated in place
        T* rm = rm_t.data<T>();
        T* rv = rv_t.data<T>();
        const double unbias = count / (count - 1);
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
                [x = x.detach(), w = detach_or_none(weight), mean, invstd, batch_stats, outer, c, inner, sync, count](
                    const Tensor& g, const Need& need) {
                  // dx = w σ⁻¹ (g - mean(g) - x̂ mean(g x̂)) with batch statistics, w σ⁻¹ g with running ones;
                  // dw = Σ g x̂; db = Σ g (sums over N and the spatial positions of each channel)
                  Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();
                  Tensor gw = need[1] ? empty({c}, x.dtype()) : Tensor();
                  Tensor gb = need[2] ? empty({c}, x.dtype()) : Tensor();
                  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    if (sync.grad_sum)
                      return synced_backward(sync, x.data<T>(), g.data<T>(), outer, c, inner, mean.data<double>(),
                                             invstd.data<double>(), ptr_or_null<T>(w), count, ptr_or_null<T>(gx),
                                             ptr_or_null<T>(gw), ptr_or_null<T>(gb));
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
