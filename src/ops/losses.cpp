// Regression and binary losses: binary_cross_entropy_with_logits and huber_loss are primitives
// (stability, and a branch no elementwise op expresses); l1_loss and smooth_l1_loss are composites.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

namespace {
// The per-element losses reduced as asked (a 0-d tensor for mean and sum).
Tensor reduce(const Tensor& per, Reduction r) {
  if (r == Reduction::None) return per;
  return r == Reduction::Mean ? mean(per) : sum(per);
}
// The incoming gradient as a per-element factor: g itself (none), or g / n (mean), g (sum).
template <class T>
T grad_at(const T* g, int64_t i, Reduction r, int64_t n) {
  if (r == Reduction::None) return g[i];
  return r == Reduction::Mean ? g[0] / static_cast<T>(n) : g[0];
}
void check_pair(const Tensor& a, const Tensor& b, const char* what) {
  check_same_dtype(a, b, what);
  if (a.shape() != b.shape())
    throw Error(fmt::format("{}: input {} and target {} must have the same shape", what, a.shape_str(), b.shape_str()));
}
// t broadcast to shape and detached (weights are constants), or undefined.
Tensor expand_const(const Tensor& t, const Tensor& like, const char* what, const char* name) {
  if (!t.defined()) return t;
  Tensor c = t.detach().to(like.dtype());
  try {
    return c.shape() == like.shape() ? c : c * ones(like.shape(), like.dtype());
  } catch (const Error&) {
    throw Error(
        fmt::format("{}: {} {} does not broadcast to the input {}", what, name, t.shape_str(), like.shape_str()));
  }
}
}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const BceWithLogitsOptions& opt) {
  check_pair(input, target, "binary_cross_entropy_with_logits");
  Tensor w = expand_const(opt.weight, input, "binary_cross_entropy_with_logits", "weight");
  Tensor pw = expand_const(opt.pos_weight, input, "binary_cross_entropy_with_logits", "pos_weight");
  Tensor per = empty(input.shape(), input.dtype());
  dispatch_float(input.dtype(), "binary_cross_entropy_with_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = input.data<T>();
    const T* y = target.data<T>();
    const T* pwp = pw.defined() ? pw.data<T>() : nullptr;
    const T* wp = w.defined() ? w.data<T>() : nullptr;
    T* l = per.data<T>();
    for (int64_t i = 0; i < input.numel(); ++i) {
      // softplus(-x) = log(1 + e^-x) = max(-x, 0) + log1p(e^-|x|): finite for any x
      const T sp = std::max(-x[i], T(0)) + std::log1p(std::exp(-std::abs(x[i])));
      const T lw = pwp ? 1 + (pwp[i] - 1) * y[i] : T(1);
      l[i] = ((1 - y[i]) * x[i] + lw * sp) * (wp ? wp[i] : T(1));
    }
  });
  const int64_t n = input.numel();
  return record(
      Op::BceWithLogits, reduce(per.detach(), opt.reduction), {input, target},
      [x = input.detach(), y = target.detach(), w, pw, n, r = opt.reduction](const Tensor& g, const Need& need) {
        // with l_w = 1 + (p - 1) y:  dl/dx = w ((1 - y) - l_w σ(-x)),  dl/dy = w (-x + (p - 1) softplus(-x))
        Tensor gx = need[0] ? empty(x.shape(), x.dtype()) : Tensor();
        Tensor gy = need[1] ? empty(x.shape(), x.dtype()) : Tensor();
        dispatch_float(x.dtype(), "binary_cross_entropy_with_logits", [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* px = x.data<T>();
          const T* py = y.data<T>();
          const T* pg = g.data<T>();
          const T* pwp = pw.defined() ? pw.data<T>() : nullptr;
          const T* wp = w.defined() ? w.data<T>() : nullptr;
          T* ox = gx.defined() ? gx.data<T>() : nullptr;
          T* oy = gy.defined() ? gy.data<T>() : nullptr;
          for (int64_t i = 0; i < n; ++i) {
            const T gi = grad_at(pg, i, r, n) * (wp ? wp[i] : T(1));
            const T e = std::exp(-std::abs(px[i]));
            const T sig_neg = px[i] >= 0 ? e / (1 + e) : 1 / (1 + e);  // σ(-x) without overflow
            const T p = pwp ? pwp[i] : T(1);
            if (ox) ox[i] = gi * ((1 - py[i]) - (1 + (p - 1) * py[i]) * sig_neg);
            if (oy) oy[i] = gi * (-px[i] + (p - 1) * (std::max(-px[i], T(0)) + std::log1p(e)));
          }
        });
        return Grads{gx, gy};
      });
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  check_pair(input, target, "huber_loss");
  if (!(delta > 0)) throw Error(fmt::format("huber_loss: delta must be positive, got {}", delta));
  Tensor per = empty(input.shape(), input.dtype());
  dispatch_float(input.dtype(), "huber_loss", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* a = input.data<T>();
    const T* b = target.data<T>();
    T* l = per.data<T>();
    const T dl = static_cast<T>(delta);
    for (int64_t i = 0; i < input.numel(); ++i) {
      const T z = std::abs(a[i] - b[i]);
      l[i] = z < dl ? T(0.5) * z * z : dl * (z - T(0.5) * dl);  // quadratic inside δ, linear outside
    }
  });
  const int64_t n = input.numel();
  return record(Op::HuberLoss, reduce(per.detach(), reduction), {input, target},
                [a = input.detach(), b = target.detach(), delta, n, reduction](const Tensor& g, const Need& need) {
                  // dl/da = clamp(a - b, -δ, δ) = -dl/db
                  Tensor ga = empty(a.shape(), a.dtype());
                  dispatch_float(a.dtype(), "huber_loss", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    const T* pa = a.data<T>();
                    const T* pb = b.data<T>();
                    const T* pg = g.data<T>();
                    T* out = ga.data<T>();
                    const T dl = static_cast<T>(delta);
                    for (int64_t i = 0; i < n; ++i)
                      out[i] = grad_at(pg, i, reduction, n) * std::clamp(pa[i] - pb[i], -dl, dl);
                  });
                  return Grads{need[0] ? ga : Tensor(), need[1] ? neg(ga) : Tensor()};
                });
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (beta < 0) throw Error(fmt::format("smooth_l1_loss: beta must be >= 0, got {}", beta));
  if (beta == 0) return l1_loss(input, target, reduction);   // torch: beta 0 is the L1 loss
  return huber_loss(input, target, reduction, beta) / beta;  // smooth_l1_β = huber_β / β
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_pair(input, target, "l1_loss");
  return reduce(abs(input - target), reduction);
}

}  // namespace descent::ops
