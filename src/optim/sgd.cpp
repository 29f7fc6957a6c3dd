// SGD with momentum, dampening, Nesterov and coupled weight decay (torch.optim.SGD).
#include <fmt/format.h>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {
namespace {

// The fused update of one parameter; b is the momentum buffer (Momentum), First its first step.
// Scalars arrive by value so that the parallel region copies them and the loop vectorizes.
template <class T, bool Momentum, bool First, bool Nesterov>
void sgd_update(int64_t n, T* p, const T* g, T* b, T sign, T wd, T lr, T mom, T damp) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t k = 0; k < n; ++k) {
    T d = sign * g[k] + wd * p[k];
    if constexpr (Momentum) {
      if constexpr (First) b[k] = d;  // torch: buf = clone(d) at the first step
      else b[k] = mom * b[k] + damp * d;
      d = Nesterov ? d + mom * b[k] : b[k];
    }
    p[k] -= lr * d;
  }
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o) : SGD(std::vector<ParamGroup>{{.params = std::move(params)}}, o) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "SGD"), opt_(o) {
  if (!(o.momentum >= 0)) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", o.momentum));
  if (!(o.dampening >= 0 && o.dampening <= 1)) throw Error(fmt::format("SGD: dampening must be in [0, 1], got {}", o.dampening));
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw Error("SGD: nesterov needs momentum > 0 and dampening = 0");
  momentum_buffer_.resize(params_.size());
}

void SGD::set_momentum(double m) {
  if (!(m >= 0)) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", m));
  opt_.momentum = m;
}

SGDOptions SGD::options() const {
  SGDOptions o = opt_;
  o.lr = lr();
  return o;
}

void SGD::step() {
  NoGradGuard no_grad;
  for (const GroupState& group : groups_) {
    for (size_t i = group.begin; i < group.end; ++i) {
      Tensor p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;  // as torch: parameters without a gradient are skipped
      check_grad(p, g, i, "SGD");
      Tensor& buf = momentum_buffer_[i];
      const bool first = !buf.defined();
      if (opt_.momentum != 0.0 && first) buf = empty(p.shape(), p.dtype());
      dispatch_float(p.dtype(), "SGD", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const int64_t n = p.numel();
        T* pp = p.data<T>();
        const T* pg = g.data<T>();
        const T sign = opt_.maximize ? T(-1) : T(1), wd = static_cast<T>(group.weight_decay);
        const T lr = static_cast<T>(group.lr), mom = static_cast<T>(opt_.momentum);
        const T damp = static_cast<T>(1.0 - opt_.dampening);
        if (opt_.momentum == 0.0) return sgd_update<T, false, false, false>(n, pp, pg, nullptr, sign, wd, lr, mom, damp);
        T* pb = buf.data<T>();
        if (first && opt_.nesterov) return sgd_update<T, true, true, true>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        if (first) return sgd_update<T, true, true, false>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        if (opt_.nesterov) return sgd_update<T, true, false, true>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        sgd_update<T, true, false, false>(n, pp, pg, pb, sign, wd, lr, mom, damp);
      });
    }
  }
  steps_++;
}

nn::NamedTensors SGD::state() const {
  nn::NamedTensors out;
  export_state(momentum_buffer_, "momentum_buffer", out);
  return out;
}

void SGD::load_state(const nn::NamedTensors& state, int64_t steps) {
  StateReader r(state, params_, "SGD");
  auto buffers = r.buffers("momentum_buffer");
  r.finish({});
  momentum_buffer_ = std::move(buffers);
  steps_ = steps;
}

}  // namespace descent::optim
