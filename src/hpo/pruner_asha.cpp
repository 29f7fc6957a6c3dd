// hpo/pruner_asha.cpp — asynchronous successive halving (Li et al., "A System for Massively
// Parallel Hyperparameter Tuning", 2020), with Optuna's SuccessiveHalvingPruner semantics.
//
// Rung k sits at step r * eta^(s + k). A trial reaching a rung records its value there and is
// promoted (continues) iff it is among the top floor(n / eta) of the n values recorded at that
// rung so far, itself included; while n < eta, only the best so far continues. Being
// asynchronous, no trial ever waits for a rung to fill.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "descent/error.h"
#include "descent/hpo.h"

namespace descent::hpo {
namespace {

bool promotable(double value, std::vector<double> competing, int eta, Direction direction) {
  std::ptrdiff_t top = static_cast<std::ptrdiff_t>(competing.size()) / eta - 1;
  if (top < 0) top = 0;
  std::sort(competing.begin(), competing.end());
  if (direction == Direction::Maximize) return value >= competing[competing.size() - 1 - static_cast<std::size_t>(top)];
  return value <= competing[static_cast<std::size_t>(top)];
}

}  // namespace

AshaPruner::AshaPruner(AshaOptions options) : options_(options) {
  if (options_.min_resource < 1 || options_.reduction_factor < 2 || options_.min_early_stopping_rate < 0 ||
      options_.bootstrap_count < 0)
    throw Error(fmt::format(
        "asha pruner: need min_resource >= 1, reduction_factor >= 2, min_early_stopping_rate >= 0 "
        "and bootstrap_count >= 0 (got {}, {}, {}, {})",
        options_.min_resource, options_.reduction_factor, options_.min_early_stopping_rate, options_.bootstrap_count));
}

long long AshaPruner::rung_step(int rung) const {
  long long step = options_.min_resource;
  for (int i = 0; i < options_.min_early_stopping_rate + rung; ++i) step *= options_.reduction_factor;
  return step;
}

bool AshaPruner::should_prune(Trial& trial, const History& history) {
  const auto step = trial.last_step();
  if (!step) return false;
  const double value = trial.intermediate.at(*step);
  for (auto rung = static_cast<int>(trial.rungs.size());; ++rung) {
    if (*step < rung_step(rung)) return false;
    if (std::isnan(value)) return true;
    trial.rungs.push_back(value);
    std::vector<double> competing{value};
    for (const Trial& t : history.trials)
      if (t.number != trial.number && static_cast<int>(t.rungs.size()) > rung)
        competing.push_back(t.rungs[static_cast<std::size_t>(rung)]);
    if (static_cast<int>(competing.size()) <= options_.bootstrap_count) return true;
    if (!promotable(value, std::move(competing), options_.reduction_factor, history.direction)) return true;
  }
}

}  // namespace descent::hpo
