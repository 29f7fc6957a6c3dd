// The Optimizer base: flattening parameter groups, lr scaling, gradient clearing.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "descent/optim.h"

namespace descent::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const std::string& who)
    : lr_(lr), initial_lr_(lr) {
  if (!(lr >= 0)) throw Error(fmt::format("{}: lr must be >= 0, got {}", who, lr));
  if (!(weight_decay >= 0)) throw Error(fmt::format("{}: weight_decay must be >= 0, got {}", who, weight_decay));
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    ParamGroup& g = groups[gi];
    if (!g.names.empty() && g.names.size() != g.params.size())
      throw Error(fmt::format("{}: group {} has {} names for {} parameters", who, gi, g.names.size(), g.params.size()));
    GroupState s;
    s.begin = params_.size();
    s.lr = s.initial_lr = g.lr.value_or(lr);
    s.weight_decay = g.weight_decay.value_or(weight_decay);
    if (!(s.lr >= 0)) throw Error(fmt::format("{}: group {} lr must be >= 0, got {}", who, gi, s.lr));
    if (!(s.weight_decay >= 0))
      throw Error(fmt::format("{}: group {} weight_decay must be >= 0, got {}", who, gi, s.weight_decay));
    for (size_t i = 0; i < g.params.size(); ++i) {
      const Tensor& p = g.params[i];
      std::string name = g.names.empty() ? fmt::format("{}", params_.size()) : fmt::format("'{}'", g.names[i]);
      if (!p.defined() || !p.requires_grad())
        throw Error(fmt::format("{}: parameter {} does not require grad", who, name));
      if (!p.is_leaf()) throw Error(fmt::format("{}: parameter {} is not a leaf tensor", who, name));
      // torch raises too: one tensor in two groups would be updated twice per step.
      for (const Tensor& q : params_)
        if (q.is_same(p)) throw Error(fmt::format("{}: parameter {} appears in more than one group", who, name));
      params_.push_back(p);
    }
    s.end = params_.size();
    groups_.push_back(s);
  }
  if (params_.empty()) throw Error(fmt::format("{}: got an empty parameter list", who));
}

void Optimizer::set_lr(double lr) {
  lr_ = lr;
  for (auto& g : groups_) g.lr = initial_lr_ != 0.0 ? g.initial_lr * (lr / initial_lr_) : lr;
}

double Optimizer::momentum() const { return std::numeric_limits<double>::quiet_NaN(); }
void Optimizer::set_momentum(double) { throw Error(fmt::format("{} has no momentum to set", type_name())); }

void Optimizer::zero_grad() {
  for (auto& p : params_) p.set_grad(Tensor());
}

void Optimizer::load_state(const nn::NamedTensors& state, int64_t steps) {
  if (!state.empty()) throw Error(fmt::format("{}: unexpected optimizer state '{}'", type_name(), state[0].first));
  steps_ = steps;
}

}  // namespace descent::optim
