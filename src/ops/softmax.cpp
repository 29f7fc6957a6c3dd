// softmax, log_softmax and the fused losses built on them (cross_entropy, nll_loss), plus the
// composite mse_loss. Fused for numerical stability: log-sum-exp subtracts the row max, so
// logits of ±1e4 give finite losses and gradients.
#include <fmt/format.h>

#include <cmath>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

namespace {
struct Split3 {
  int64_t outer, n, inner;
};
Split3 split3(const Tensor& x, int64_t d) {
  Split3 r{1, x.size(d), 1};
  for (int64_t i = 0; i < d; ++i) r.outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) r.inner *= x.size(i);
  return r;
}

// y = log_softmax(x) along d (log = true) or softmax (log = false).
Tensor softmax_impl(const Tensor& x, int64_t d, bool log) {
  Split3 sp = split3(x, d);
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = x.data<T>();
    T* q = y.data<T>();
#pragma omp parallel for if (x.numel() > 32768)
    for (int64_t o = 0; o < sp.outer; ++o)
      for (int64_t i = 0; i < sp.inner; ++i) {
        const T* a = p + o * sp.n * sp.inner + i;
        T* b = q + o * sp.n * sp.inner + i;
        T m = a[0];
        for (int64_t j = 1; j < sp.n; ++j) m = std::max(m, a[j * sp.inner]);
        T s = 0;
        for (int64_t j = 0; j < sp.n; ++j) s += std::exp(a[j * sp.inner] - m);
        // (x - m) - log s, not x - (m + log s): m + log s rounds to the spacing of m (~1e-3
        // in float32 at 1e4), which would shift every output by up to that much.
        const T log_s = std::log(s);
        for (int64_t j = 0; j < sp.n; ++j) {
          const T lp = (a[j * sp.inner] - m) - log_s;
          b[j * sp.inner] = log ? lp : std::exp(lp);
        }
      }
  });
  return y;
}

// Σ_j over dim d of t, kept as a size-1 dim (non-recording helper for the backwards).
Tensor sum_keep(const Tensor& t, int64_t d) { return sum(t, d, true); }

void check_targets(const Tensor& target, int64_t n, int64_t c, const char* what) {
  if (target.dtype() != DType::I64 || target.dim() != 1 || target.size(0) != n)
    throw Error(fmt::format("{}: target must be int64 [{}], got {} {}", what, n, dtype_name(target.dtype()), target.shape_str()));
  const int64_t* t = target.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (t[i] < 0 || t[i] >= c)
      throw Error(fmt::format("{}: target {} at index {} is outside the {} classes", what, t[i], i, c));
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  int64_t d = norm_dim(dim, x.dim(), "softmax");
  Tensor y = softmax_impl(x, d, false);
  return record(Op::Softmax, y, {x}, [y = y.detach(), d](const Tensor& g) {
    return Grads{y * (g - sum_keep(g * y, d))};                 // J^T g = y ⊙ (g - <g, y>)
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  int64_t d = norm_dim(dim, x.dim(), "log_softmax");
  Tensor y = softmax_impl(x, d, true);
  return record(Op::LogSoftmax, y, {x}, [y = y.detach(), d](const Tensor& g) {
    return Grads{g - exp(y) * sum_keep(g, d)};                  // g - softmax ⊙ Σg
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt) {
  if (logits.dim() != 2)
    throw Error(fmt::format("cross_entropy: logits must be [N, C], got {}", logits.shape_str()));
  const int64_t n = logits.size(0), c = logits.size(1);
  check_targets(target, n, c, "cross_entropy");
  if (opt.label_smoothing < 0.0 || opt.label_smoothing >= 1.0)
    throw Error(fmt::format("cross_entropy: label_smoothing must be in [0, 1), got {}", opt.label_smoothing));
  Tensor w = opt.weight;
  if (w.defined()) {
    if (w.dim() != 1 || w.size(0) != c) throw Error(fmt::format("cross_entropy: weight must be [{}], got {}", c, w.shape_str()));
    w = w.detach().to(logits.dtype());
  }
  const double eps = opt.label_smoothing;
  Tensor prob = empty({n, c}, logits.dtype());      // saved softmax for the backward
  Tensor per = empty({n}, logits.dtype());          // per-sample loss
  double denom = 0.0;                               // Σ w_{y_i} (or N) for the mean
  double w_total = 0.0;                             // Σ_c w_c (C without weights)
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* z = logits.data<T>();
    const int64_t* t = target.data<int64_t>();
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    T* pp = prob.data<T>();
    T* pl = per.data<T>();
    for (int64_t k = 0; k < c; ++k) w_total += pw ? pw[k] : 1.0;
    for (int64_t i = 0; i < n; ++i) {
      const T* zi = z + i * c;
      T m = zi[0];
      for (int64_t k = 1; k < c; ++k) m = std::max(m, zi[k]);
      T s = 0;
      for (int64_t k = 0; k < c; ++k) s += std::exp(zi[k] - m);
      const T log_s = std::log(s);                   // log p = (z - m) - log s, kept small (see softmax_impl)
      T smooth = 0;                                  // Σ_c w_c (-log p_c)
      for (int64_t k = 0; k < c; ++k) {
        const T lp = (zi[k] - m) - log_s;
        pp[i * c + k] = std::exp(lp);
        smooth -= (pw ? pw[k] : T(1)) * lp;
      }
      const T wy = pw ? pw[t[i]] : T(1);
      pl[i] = static_cast<T>((1 - eps) * wy * (log_s - (zi[t[i]] - m)) + eps / c * smooth);
      denom += wy;
    }
  });
  Tensor y;
  if (opt.reduction == Reduction::None) {
    y = per;
  } else {
    double total = 0.0;
    for (double v : per.to_vector()) total += v;
    if (opt.reduction == Reduction::Mean) total /= denom;
    y = scalar(total, logits.dtype());
  }
  return record(Op::CrossEntropy, y, {logits},
                [prob, target = target.clone(), w, eps, denom, w_total, red = opt.reduction](const Tensor& g) {
    // dL_i/dz_j = (1-ε) w_y (p_j - δ_jy) + (ε/C)(W p_j - w_j), times g_i (or g / Σw_y for the mean)
    const int64_t n = prob.size(0), c = prob.size(1);
    Tensor gz = empty({n, c}, prob.dtype());
    dispatch_float(prob.dtype(), "cross_entropy", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pp = prob.data<T>();
      const int64_t* t = target.data<int64_t>();
      const T* pw = w.defined() ? w.data<T>() : nullptr;
      const T* pg = g.data<T>();
      T* out = gz.data<T>();
      for (int64_t i = 0; i < n; ++i) {
        T gi = red == Reduction::None ? pg[i] : (red == Reduction::Mean ? static_cast<T>(pg[0] / denom) : pg[0]);
        const T wy = pw ? pw[t[i]] : T(1);
        for (int64_t k = 0; k < c; ++k) {
          const T p = pp[i * c + k];
          const T wk = pw ? pw[k] : T(1);
          T d = static_cast<T>((1 - eps) * wy * (p - (k == t[i] ? 1 : 0)) + eps / c * (w_total * p - wk));
          out[i * c + k] = gi * d;
        }
      }
    });
    return Grads{gz};
  });
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  if (log_probs.dim() != 2)
    throw Error(fmt::format("nll_loss: input must be [N, C], got {}", log_probs.shape_str()));
  const int64_t n = log_probs.size(0), c = log_probs.size(1);
  check_targets(target, n, c, "nll_loss");
  Tensor per = empty({n}, log_probs.dtype());
  dispatch_float(log_probs.dtype(), "nll_loss", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* lp = log_probs.data<T>();
    const int64_t* t = target.data<int64_t>();
    T* pl = per.data<T>();
    for (int64_t i = 0; i < n; ++i) pl[i] = -lp[i * c + t[i]];
  });
  Tensor y = per;
  if (reduction != Reduction::None) {
    double total = 0.0;
    for (double v : per.to_vector()) total += v;
    if (reduction == Reduction::Mean) total /= static_cast<double>(n);
    y = scalar(total, log_probs.dtype());
  }
  return record(Op::NllLoss, y, {log_probs}, [target = target.clone(), n, c, reduction](const Tensor& g) {
    Tensor gx = zeros({n, c}, g.dtype());                       // -g at the target, 0 elsewhere
    dispatch_float(g.dtype(), "nll_loss", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t* t = target.data<int64_t>();
      const T* pg = g.data<T>();
      T* px = gx.data<T>();
      for (int64_t i = 0; i < n; ++i) {
        T gi = reduction == Reduction::None ? pg[i] : (reduction == Reduction::Mean ? pg[0] / static_cast<T>(n) : pg[0]);
        px[i * c + t[i]] = -gi;
      }
    });
    return Grads{gx};
  });
}

Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction) {
  Tensor d = a - b;
  Tensor sq = d * d;
  switch (reduction) {
    case Reduction::Mean: return mean(sq);
    case Reduction::Sum: return sum(sq);
    default: return sq;
  }
}

}  // namespace descent::ops
