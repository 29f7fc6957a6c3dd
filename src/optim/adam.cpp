// Adam and AdamW (torch.optim.Adam / AdamW): one pass per parameter updates both moment
// estimates, the amsgrad maximum and the parameter.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {
namespace {

void check_betas(const std::array<double, 2>& b, const char* who) {
  for (int i = 0; i < 2; ++i)
    if (!(b[i] >= 0.0 && b[i] < 1.0)) throw Error(fmt::format("{}: betas[{}] must be in [0, 1), got {}", who, i, b[i]));
}

// Scalars of one parameter's update, in its precision.
template <class T>
struct AdamScalars {
  T sign, coupled_wd, shrink, b1, b2, c1, c2, eps, step_size, bc2_sqrt;
};

// The fused update of one parameter. The scalars are copied to locals so that the parallel region
// receives them by value: read through a pointer they would block vectorization.
template <class T, bool Amsgrad>
void adam_update(int64_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamScalars<T> s) {
  const T sign = s.sign, wd = s.coupled_wd, shrink = s.shrink, b1 = s.b1, b2 = s.b2, c1 = s.c1, c2 = s.c2;
  const T eps = s.eps, step_size = s.step_size, bc2_sqrt = s.bc2_sqrt;
#pragma omp parallel for simd if (n > 65536)
  for (int64_t k = 0; k < n; ++k) {
    const T gk = sign * g[k] + wd * p[k];
    m[k] = b1 * m[k] + c1 * gk;
    v[k] = b2 * v[k] + c2 * gk * gk;
    T second = v[k];
    if constexpr (Amsgrad) second = vmax[k] = std::max(vmax[k], v[k]);
    p[k] = p[k] * shrink - step_size * m[k] / (std::sqrt(second) / bc2_sqrt + eps);
  }
}

AdamOptions from_adamw(const AdamWOptions& o) {
  return {.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad,
          .maximize = o.maximize};
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& o) : Adam(std::vector<ParamGroup>{{.params = std::move(params)}}, o, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& o) : Adam(std::move(groups), o, false) {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& o, bool decoupled)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, decoupled ? "AdamW" : "Adam"), opt_(o), decoupled_(decoupled) {
  const char* who = decoupled ? "AdamW" : "Adam";
  check_betas(o.betas, who);
  if (!(o.eps >= 0)) throw Error(fmt::format("{}: eps must be >= 0, got {}", who, o.eps));
  step_.assign(params_.size(), 0);
  exp_avg_.resize(params_.size());
  exp_avg_sq_.resize(params_.size());
  max_exp_avg_sq_.resize(params_.size());
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& o)
    : Adam(std::vector<ParamGroup>{{.params = std::move(params)}}, from_adamw(o), true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& o) : Adam(std::move(groups), from_adamw(o), true) {}

void Adam::set_momentum(double beta1) {
  check_betas({beta1, opt_.betas[1]}, decoupled_ ? "AdamW" : "Adam");
  opt_.betas[0] = beta1;
}

AdamOptions Adam::options() const {
  AdamOptions o = opt_;
  o.lr = lr();
  return o;
}

void Adam::step() {
  NoGradGuard no_grad;
  const std::string who = type_name();
  for (const GroupState& group : groups_) {
    for (size_t i = group.begin; i < group.end; ++i) {
      Tensor p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      check_grad(p, g, i, who);
      if (!exp_avg_[i].defined()) {
        exp_avg_[i] = zeros(p.shape(), p.dtype());
        exp_avg_sq_[i] = zeros(p.shape(), p.dtype());
      }
      if (opt_.amsgrad && !max_exp_avg_sq_[i].defined()) max_exp_avg_sq_[i] = zeros(p.shape(), p.dtype());
      const int64_t t = ++step_[i];
      const double beta1 = opt_.betas[0], beta2 = opt_.betas[1];
      // Scalars in double as torch computes them in Python floats, then cast once.
      const double step_size = group.lr / (1.0 - std::pow(beta1, static_cast<double>(t)));
      const double bc2_sqrt = std::sqrt(1.0 - std::pow(beta2, static_cast<double>(t)));
      dispatch_float(p.dtype(), "Adam", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const AdamScalars<T> s{.sign = opt_.maximize ? T(-1) : T(1),
                               .coupled_wd = static_cast<T>(decoupled_ ? 0.0 : group.weight_decay),
                               .shrink = static_cast<T>(decoupled_ ? 1.0 - group.lr * group.weight_decay : 1.0),
                               .b1 = static_cast<T>(beta1), .b2 = static_cast<T>(beta2),
                               .c1 = static_cast<T>(1.0 - beta1), .c2 = static_cast<T>(1.0 - beta2),
                               .eps = static_cast<T>(opt_.eps), .step_size = static_cast<T>(step_size),
                               .bc2_sqrt = static_cast<T>(bc2_sqrt)};
        T* m = exp_avg_[i].data<T>();
        T* v = exp_avg_sq_[i].data<T>();
        if (opt_.amsgrad)
          adam_update<T, true>(p.numel(), p.data<T>(), g.data<T>(), m, v, max_exp_avg_sq_[i].data<T>(), s);
        else
          adam_update<T, false>(p.numel(), p.data<T>(), g.data<T>(), m, v, nullptr, s);
      });
    }
  }
  steps_++;
}

nn::NamedTensors Adam::state() const {
  nn::NamedTensors out;
  export_steps(step_, "step", out);
  export_state(exp_avg_, "exp_avg", out);
  export_state(exp_avg_sq_, "exp_avg_sq", out);
  export_state(max_exp_avg_sq_, "max_exp_avg_sq", out);
  return out;
}

void Adam::load_state(const nn::NamedTensors& state, int64_t steps) {
  StateReader r(state, params_, type_name());
  auto step = r.steps("step");
  auto m = r.buffers("exp_avg");
  auto v = r.buffers("exp_avg_sq");
  auto vmax = r.buffers("max_exp_avg_sq");
  std::vector<std::string> together = {"step", "exp_avg", "exp_avg_sq"};
  if (opt_.amsgrad) together.push_back("max_exp_avg_sq");
  r.finish(together);
  step_ = std::move(step);
  exp_avg_ = std::move(m);
  exp_avg_sq_ = std::move(v);
  max_exp_avg_sq_ = std::move(vmax);
  steps_ = steps;
}

}  // namespace descent::optim
