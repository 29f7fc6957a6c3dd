// RMSprop (torch.optim.RMSprop): squared-gradient average, optional centering and momentum, in
// one pass per parameter.
#include <fmt/format.h>

#include <cmath>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {
namespace {

// Scalars of one parameter's update, in its precision.
template <class T>
struct RMSpropScalars {
  T sign, wd, lr, alpha, one_minus_alpha, eps, momentum;
};

// The fused update of one parameter; a is the gradient average (Centered), b the momentum buffer.
// Scalars are copied to locals so that the parallel region gets them by value and vectorizes.
template <class T, bool Centered, bool Momentum>
void rmsprop_update(int64_t n, T* p, const T* g, T* v, T* a, T* b, const RMSpropScalars<T> s) {
  const T sign = s.sign, wd = s.wd, lr = s.lr, alpha = s.alpha, c = s.one_minus_alpha, eps = s.eps, mom = s.momentum;
#pragma omp parallel for simd if (n > 65536)
  for (int64_t k = 0; k < n; ++k) {
    const T gk = sign * g[k] + wd * p[k];
    v[k] = alpha * v[k] + c * gk * gk;
    T var = v[k];
    if constexpr (Centered) {
      a[k] = alpha * a[k] + c * gk;
      var -= a[k] * a[k];
    }
    const T d = std::sqrt(var) + eps;
    if constexpr (Momentum) {
      b[k] = mom * b[k] + gk / d;
      p[k] -= lr * b[k];
    } else {
      p[k] -= lr * gk / d;
    }
  }
}

}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& o)
    : RMSprop(std::vector<ParamGroup>{{.params = std::move(params)}}, o) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "RMSprop"), opt_(o) {
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw Error(fmt::format("RMSprop: alpha must be in [0, 1], got {}", o.alpha));
  if (!(o.eps >= 0)) throw Error(fmt::format("RMSprop: eps must be >= 0, got {}", o.eps));
  if (!(o.momentum >= 0)) throw Error(fmt::format("RMSprop: momentum must be >= 0, got {}", o.momentum));
  step_.assign(params_.size(), 0);
  square_avg_.resize(params_.size());
  momentum_buffer_.resize(params_.size());
  grad_avg_.resize(params_.size());
}

void RMSprop::set_momentum(double m) {
  if (!(m >= 0)) throw Error(fmt::format("RMSprop: momentum must be >= 0, got {}", m));
  opt_.momentum = m;
}

RMSpropOptions RMSprop::options() const {
  RMSpropOptions o = opt_;
  o.lr = lr();
  return o;
}

void RMSprop::step() {
  NoGradGuard no_grad;
  for (const GroupState& group : groups_) {
    for (size_t i = group.begin; i < group.end; ++i) {
      Tensor p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      check_grad(p, g, i, "RMSprop");
      if (!square_avg_[i].defined()) square_avg_[i] = zeros(p.shape(), p.dtype());
      // torch allocates these at the first step when the option is on; a momentum switched on
      // later (one-cycle) starts from a zero buffer, as torch's would.
      if (opt_.momentum > 0 && !momentum_buffer_[i].defined()) momentum_buffer_[i] = zeros(p.shape(), p.dtype());
      if (opt_.centered && !grad_avg_[i].defined()) grad_avg_[i] = zeros(p.shape(), p.dtype());
      ++step_[i];
      dispatch_float(p.dtype(), "RMSprop", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const RMSpropScalars<T> s{.sign = opt_.maximize ? T(-1) : T(1), .wd = static_cast<T>(group.weight_decay),
                                  .lr = static_cast<T>(group.lr), .alpha = static_cast<T>(opt_.alpha),
                                  .one_minus_alpha = static_cast<T>(1.0 - opt_.alpha), .eps = static_cast<T>(opt_.eps),
                                  .momentum = static_cast<T>(opt_.momentum)};
        const int64_t n = p.numel();
        T *pp = p.data<T>(), *v = square_avg_[i].data<T>();
        const T* pg = g.data<T>();
        T* a = opt_.centered ? grad_avg_[i].data<T>() : nullptr;
        T* b = opt_.momentum > 0 ? momentum_buffer_[i].data<T>() : nullptr;
        if (a && b) rmsprop_update<T, true, true>(n, pp, pg, v, a, b, s);
        else if (a) rmsprop_update<T, true, false>(n, pp, pg, v, a, b, s);
        else if (b) rmsprop_update<T, false, true>(n, pp, pg, v, a, b, s);
        else rmsprop_update<T, false, false>(n, pp, pg, v, a, b, s);
      });
    }
  }
  steps_++;
}

nn::NamedTensors RMSprop::state() const {
  nn::NamedTensors out;
  export_steps(step_, "step", out);
  export_state(square_avg_, "square_avg", out);
  export_state(momentum_buffer_, "momentum_buffer", out);
  export_state(grad_avg_, "grad_avg", out);
  return out;
}

void RMSprop::load_state(const nn::NamedTensors& state, int64_t steps) {
  StateReader r(state, params_, "RMSprop");
  auto step = r.steps("step");
  auto v = r.buffers("square_avg");
  auto b = r.buffers("momentum_buffer");
  auto a = r.buffers("grad_avg");
  std::vector<std::string> together = {"step", "square_avg"};
  if (opt_.momentum > 0) together.push_back("momentum_buffer");
  if (opt_.centered) together.push_back("grad_avg");
  r.finish(together);
  step_ = std::move(step);
  square_avg_ = std::move(v);
  momentum_buffer_ = std::move(b);
  grad_avg_ = std::move(a);
  steps_ = steps;
}

}  // namespace descent::optim
