// Gradient clipping by global norm and by value, and the step-time policy of [regularization].
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/autograd.h"
#include "descent/regularize.h"
#include "tensor/dispatch.h"

namespace descent::optim {
namespace {

// Fixed-size chunks summed in order: the norm (and so the clipping factor) does not depend on the
// number of threads, which keeps runs reproducible across machines.
constexpr int64_t kChunk = 16384;

// Σ|g|^p (or max |g| for p = inf) over one tensor, in double; NaN propagates.
double accumulate(const Tensor& g, double p) {
  return dispatch_float(g.dtype(), "grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* d = g.data<T>();
    const int64_t n = g.numel(), chunks = (n + kChunk - 1) / kChunk;
    const bool inf = std::isinf(p);
    std::vector<double> part(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for if (chunks > 4)
    for (int64_t c = 0; c < chunks; ++c) {
      double acc = 0.0;
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t k = c * kChunk; k < end; ++k) {
        const double a = std::abs(static_cast<double>(d[k]));
        if (inf) acc = (a > acc || std::isnan(a)) ? a : acc;
        else acc += p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
        if (std::isnan(acc)) break;
      }
      part[static_cast<size_t>(c)] = acc;
    }
    double total = 0.0;
    for (double v : part) total = inf ? ((v > total || std::isnan(v)) ? v : total) : total + v;
    return total;
  });
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  if (!(norm_type > 0)) throw Error(fmt::format("grad_norm: norm_type must be > 0 (or inf), got {}", norm_type));
  const bool inf = std::isinf(norm_type);
  double total = 0.0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const double a = accumulate(g, norm_type);
    total = inf ? ((a > total || std::isnan(a)) ? a : total) : total + a;
  }
  if (inf) return total;
  return norm_type == 2.0 ? std::sqrt(total) : norm_type == 1.0 ? total : std::pow(total, 1.0 / norm_type);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipOptions& o) {
  if (!(max_norm >= 0)) throw Error(fmt::format("clip_grad_norm_: max_norm must be >= 0, got {}", max_norm));
  const double norm = grad_norm(params, o.norm_type);
  if (!std::isfinite(norm)) {
    if (o.nonfinite == NonFinite::Error)
      throw Error(fmt::format("clip_grad_norm_: the total norm of the gradients is {} (a NaN or inf gradient; "
                              "lower the lr, clip by value, or set nonfinite = \"skip\")", norm));
    return norm;
  }
  const double coef = max_norm / (norm + 1e-6);  // torch's 1e-6 keeps a zero norm from dividing by 0
  if (coef < 1.0) {
    NoGradGuard no_grad;
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (g.defined()) g.mul_(coef);
    }
  }
  return norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0)) throw Error(fmt::format("clip_grad_value_: clip_value must be >= 0, got {}", clip_value));
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch_float(g.dtype(), "clip_grad_value_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* d = g.data<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      const int64_t n = g.numel();
      // Written with comparisons so that NaN stays NaN, as torch.clamp leaves it.
#pragma omp parallel for simd if (n > 65536)
      for (int64_t k = 0; k < n; ++k) d[k] = d[k] > hi ? hi : (d[k] < lo ? lo : d[k]);
    });
  }
}

ClipResult clip_gradients(const std::vector<Tensor>& params, const RegularizationOptions& o) {
  ClipResult r;
  r.grad_norm = grad_norm(params, o.norm_type);
  r.finite = std::isfinite(r.grad_norm);
  if (!r.finite) {
    if (o.nonfinite == NonFinite::Error)
      throw Error(fmt::format("the gradient norm is {} (a NaN or inf gradient); lower the lr, clip gradients, "
                              "or set [regularization] nonfinite = \"skip\" to skip such steps", r.grad_norm));
    return r;
  }
  if (o.clip_grad_value > 0) clip_grad_value_(params, o.clip_grad_value);
  if (o.clip_grad_norm > 0) clip_grad_norm_(params, o.clip_grad_norm, {.norm_type = o.norm_type});
  return r;
}

}  // namespace descent::optim
