// hpo/pruner_hyperband.cpp — Hyperband (Li et al. 2018) as a set of ASHA brackets.
//
// Bracket b is ASHA with min_early_stopping_rate b: bracket 0 prunes from min_resource on, the
// last compares trials only once, near max_resource. As in Optuna, bracket b's share of trials is
// ceil(n_brackets * eta^s / (s + 1)) with s = n_brackets - 1 - b. Unlike Optuna (a hash of the
// study name), trial n is assigned by smooth weighted round robin, which depends on n alone
// and interleaves the brackets, so even a short study tries every bracket.
#include <fmt/format.h>

#include <cmath>

#include "descent/error.h"
#include "descent/hpo.h"

namespace descent::hpo {

HyperbandPruner::HyperbandPruner(HyperbandOptions options) : options_(options) {
  if (options_.min_resource < 1 || options_.reduction_factor < 2 || options_.max_resource <= options_.min_resource ||
      options_.bootstrap_count < 0)
    throw Error(
        fmt::format("hyperband pruner: need min_resource >= 1, max_resource > min_resource, "
                    "reduction_factor >= 2 (got {}, {}, {})",
                    options_.min_resource, options_.max_resource, options_.reduction_factor));
  // n_brackets = floor(log_eta(max / min)) + 1, in integers to avoid log rounding at exact powers.
  int n = 1;
  for (long long r = static_cast<long long>(options_.min_resource) * options_.reduction_factor;
       r <= options_.max_resource; r *= options_.reduction_factor)
    ++n;
  for (int b = 0; b < n; ++b) {
    const int s = n - 1 - b;
    budgets_.push_back(static_cast<int>(std::ceil(n * std::pow(options_.reduction_factor, s) / (s + 1))));
    brackets_.emplace_back(AshaOptions{.min_resource = options_.min_resource,
                                       .reduction_factor = options_.reduction_factor,
                                       .min_early_stopping_rate = b,
                                       .bootstrap_count = options_.bootstrap_count});
  }
}

int HyperbandPruner::n_brackets() const { return static_cast<int>(brackets_.size()); }

int HyperbandPruner::bracket_of(int number) const {
  // Smooth weighted round robin: every turn each bracket gains its budget, the richest is
  // chosen and pays the total. Over any window, bracket b gets its share within one trial.
  // The sequence is extended on demand and cached: the pruner asks for every peer's bracket.
  int total = 0;
  for (int b : budgets_) total += b;
  if (credit_.empty()) credit_.assign(budgets_.size(), 0);
  while (static_cast<int>(assigned_.size()) <= number) {
    for (std::size_t b = 0; b < budgets_.size(); ++b) credit_[b] += budgets_[b];
    std::size_t chosen = 0;
    for (std::size_t b = 1; b < budgets_.size(); ++b)
      if (credit_[b] > credit_[chosen]) chosen = b;
    credit_[chosen] -= total;
    assigned_.push_back(static_cast<int>(chosen));
  }
  return assigned_[static_cast<std::size_t>(number)];
}

bool HyperbandPruner::should_prune(Trial& trial, const History& history) {
  const int bracket = bracket_of(trial.number);
  std::vector<Trial> peers;  // trials compete only within their bracket
  for (const Trial& t : history.trials)
    if (t.number != trial.number && bracket_of(t.number) == bracket) peers.push_back(t);
  return brackets_[static_cast<std::size_t>(bracket)].should_prune(trial,
                                                                   {.trials = peers, .direction = history.direction});
}

}  // namespace descent::hpo
