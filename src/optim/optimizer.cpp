#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "descent/optim.h"

namespace descent::optim {

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined() || !params_[i].requires_grad())
      throw Error(fmt::format("optimizer: parameter {} does not require grad", i));
    if (!params_[i].is_leaf()) throw Error(fmt::format("optimizer: parameter {} is not a leaf tensor", i));
  }
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
