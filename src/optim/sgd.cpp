#include <fmt/format.h>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o) : Optimizer(std::move(params)), opt_(o) {
  if (o.lr < 0) throw Error(fmt::format("SGD: lr must be >= 0, got {}", o.lr));
  if (o.momentum < 0) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", o.momentum));
  if (o.weight_decay < 0) throw Error(fmt::format("SGD: weight_decay must be >= 0, got {}", o.weight_decay));
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw Error("SGD: nesterov needs momentum > 0 and dampening = 0");
  momentum_buffer_.resize(params_.size());
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;  // as torch: parameters without a gradient are skipped
    Tensor& buf = momentum_buffer_[i];
    const bool first = !buf.defined();
    if (opt_.momentum != 0.0 && first) buf = empty(p.shape(), p.dtype());
    dispatch_float(p.dtype(), "SGD", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* pp = p.data<T>();
      const T* pg = g.data<T>();
      T* pb = opt_.momentum != 0.0 ? buf.data<T>() : nullptr;
      const T lr = static_cast<T>(opt_.maximize ? -opt_.lr : opt_.lr);
      const T wd = static_cast<T>(opt_.weight_decay), mom = static_cast<T>(opt_.momentum);
      const T damp = static_cast<T>(1.0 - opt_.dampening);
      const bool nesterov = opt_.nesterov;
      const int64_t n = p.numel();
#pragma omp parallel for simd if (n > 65536)
      for (int64_t k = 0; k < n; ++k) {
        T d = pg[k] + wd * pp[k];
        if (pb) {
          pb[k] = first ? d : mom * pb[k] + damp * d;
          d = nesterov ? d + mom * pb[k] : pb[k];
        }
        pp[k] -= lr * d;
      }
    });
  }
  steps_++;
}

nn::NamedTensors SGD::state() const {
  nn::NamedTensors out;
  export_state(momentum_buffer_, "momentum_buffer", out);
  return out;
}

void SGD::load_state(const nn::NamedTensors& state, int64_t steps) {
  size_t used = 0;
  import_state(state, "momentum_buffer", params_, momentum_buffer_, used, "SGD");
  if (used != state.size()) throw Error("SGD: checkpoint holds optimizer state SGD does not know");
  steps_ = steps;
}

}  // namespace descent::optim
