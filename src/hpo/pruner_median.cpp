// hpo/pruner_median.cpp — median (percentile) stopping, with Optuna's MedianPruner semantics.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/error.h"
#include "descent/hpo.h"

namespace descent::hpo {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// numpy.nanpercentile with linear interpolation; NaN when no value is finite.
double nan_percentile(std::vector<double> values, double q) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

// Only the first report at or after each checkpoint (warm-up + k * interval) is judged, so a
// trial that reports every step is checked every `interval` steps.
bool first_in_interval(int step, const std::map<int, double>& reported, int warmup, int interval) {
  const int nearest_checkpoint = (step - warmup) / interval * interval + warmup;
  int second_last = -1;
  for (const auto& [s, v] : reported)
    if (s != step && s > second_last) second_last = s;
  return second_last < nearest_checkpoint;
}

}  // namespace

MedianPruner::MedianPruner(MedianOptions options) : options_(options) {
  if (options_.n_startup_trials < 0 || options_.n_warmup_steps < 0 || options_.interval_steps < 1 ||
      options_.n_min_trials < 1 || !(options_.percentile >= 0 && options_.percentile <= 100))
    throw Error(
        "median pruner: options out of range (n_startup_trials >= 0, n_warmup_steps >= 0, "
        "interval_steps >= 1, n_min_trials >= 1, percentile in [0, 100])");
}

bool MedianPruner::should_prune(Trial& trial, const History& history) {
  std::vector<const Trial*> completed;
  for (const Trial& t : history.trials)
    if (t.state == TrialState::Complete && t.number != trial.number) completed.push_back(&t);
  if (completed.empty() || static_cast<int>(completed.size()) < options_.n_startup_trials) return false;

  const auto step = trial.last_step();
  if (!step || *step < options_.n_warmup_steps) return false;
  if (!first_in_interval(*step, trial.intermediate, options_.n_warmup_steps, options_.interval_steps)) return false;

  const bool maximize = history.direction == Direction::Maximize;
  double best = kNaN;  // the trial's best value so far (NaN-ignoring)
  for (const auto& [s, v] : trial.intermediate)
    if (!std::isnan(v) && (std::isnan(best) || (maximize ? v > best : v < best))) best = v;
  if (std::isnan(best)) return true;  // nothing finite reported: hopeless

  std::vector<double> at_step;
  for (const Trial* t : completed)
    if (auto it = t->intermediate.find(*step); it != t->intermediate.end()) at_step.push_back(it->second);
  if (static_cast<int>(at_step.size()) < options_.n_min_trials) return false;
  const double p = nan_percentile(at_step, maximize ? 100.0 - options_.percentile : options_.percentile);
  if (std::isnan(p)) return false;
  return maximize ? best < p : best > p;
}

}  // namespace descent::hpo
