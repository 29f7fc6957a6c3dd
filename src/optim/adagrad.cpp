// Adagrad (torch.optim.Adagrad): a per-element sum of squared gradients scales each step.
#include <fmt/format.h>

#include <cmath>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& o)
    : Adagrad(std::vector<ParamGroup>{{.params = std::move(params)}}, o) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "Adagrad"), opt_(o) {
  if (!(o.lr_decay >= 0)) throw Error(fmt::format("Adagrad: lr_decay must be >= 0, got {}", o.lr_decay));
  if (!(o.initial_accumulator_value >= 0))
    throw Error(fmt::format("Adagrad: initial_accumulator_value must be >= 0, got {}", o.initial_accumulator_value));
  if (!(o.eps >= 0)) throw Error(fmt::format("Adagrad: eps must be >= 0, got {}", o.eps));
  step_.assign(params_.size(), 0);
  for (const Tensor& p : params_) sum_.push_back(full(p.shape(), o.initial_accumulator_value, p.dtype()));
}

AdagradOptions Adagrad::options() const {
  AdagradOptions o = opt_;
  o.lr = lr();
  return o;
}

void Adagrad::step() {
  NoGradGuard no_grad;
  for (const GroupState& group : groups_) {
    for (size_t i = group.begin; i < group.end; ++i) {
      Tensor p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      check_grad(p, g, i, "Adagrad");
      const int64_t t = ++step_[i];
      const double clr = group.lr / (1.0 + static_cast<double>(t - 1) * opt_.lr_decay);
      dispatch_float(p.dtype(), "Adagrad", [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* pp = p.data<T>();
        const T* pg = g.data<T>();
        T* s = sum_[i].data<T>();
        const T sign = opt_.maximize ? T(-1) : T(1);
        const T wd = static_cast<T>(group.weight_decay), lr = static_cast<T>(clr), eps = static_cast<T>(opt_.eps);
        const int64_t n = p.numel();
#pragma omp parallel for simd if (n > 65536)
        for (int64_t k = 0; k < n; ++k) {
          const T gk = sign * pg[k] + wd * pp[k];
          s[k] += gk * gk;
          pp[k] -= lr * gk / (std::sqrt(s[k]) + eps);
        }
      });
    }
  }
  steps_++;
}

nn::NamedTensors Adagrad::state() const {
  nn::NamedTensors out;
  export_steps(step_, "step", out);
  export_state(sum_, "sum", out);
  return out;
}

void Adagrad::load_state(const nn::NamedTensors& state, int64_t steps) {
  StateReader r(state, params_, "Adagrad");
  auto step = r.steps("step");
  auto s = r.buffers("sum");
  r.finish({"sum"});  // "step" is absent for parameters that never had a gradient
  // Sums exist from construction on; a parameter absent from the state starts afresh.
  for (size_t i = 0; i < s.size(); ++i)
    if (!s[i].defined()) s[i] = full(params_[i].shape(), opt_.initial_accumulator_value, params_[i].dtype());
  step_ = std::move(step);
  sum_ = std::move(s);
  steps_ = steps;
}

}  // namespace descent::optim
