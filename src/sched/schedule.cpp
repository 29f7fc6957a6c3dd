// The composed schedule: warm-up → main (PyTorch SequentialLR semantics), times the plateau
// multiplier. Everything but the plateau is a pure function of the optimizer step, so a run, its
// resumption from a checkpoint and `descent schedule` all see the same lr for the same step.
#include <fmt/format.h>

#include <cmath>

#include "descent/error.h"
#include "descent/sched.h"
#include "sched/check.h"

namespace descent::sched {
namespace {

// Fills T_max / total_steps left at 0 with the rest of the run after the warm-up, in units of t.
std::int64_t rest_of_run(std::string_view key, std::int64_t units, std::int64_t warmup_iters) {
  if (units == 0)
    throw Error(fmt::format("schedule: [schedule.main] '{}' is not set and the run length is unknown; "
                            "set {} or give the epochs",
                            key, key));
  if (units <= warmup_iters)
    throw Error(fmt::format("schedule: [schedule.main] '{}' is not set and the warm-up ({}) leaves nothing of "
                            "the run ({}); shorten the warm-up or set {}",
                            key, warmup_iters, units, key));
  return units - warmup_iters;
}

}  // namespace

Schedule::Schedule(ScheduleSpec spec, double base_lr, RunLength run)
    : spec_(std::move(spec)), base_lr_(base_lr), run_(run) {
  detail::check_spec(spec_, "schedule");
  if (!(base_lr > 0.0) || !std::isfinite(base_lr))
    throw Error(fmt::format("schedule: base lr must be > 0, got {}", base_lr));
  if (run.steps_per_epoch < 1)
    throw Error(fmt::format("schedule: steps_per_epoch must be >= 1, got {}", run.steps_per_epoch));
  if (run.epochs < 0) throw Error(fmt::format("schedule: epochs must be >= 0, got {}", run.epochs));

  if (!spec_.main) spec_.main = ConstantLR{};
  warmup_iters_ = spec_.warmup ? spec_.warmup->total_iters : 0;
  const std::int64_t units = run.epochs * (spec_.granularity == Granularity::Step ? run.steps_per_epoch : 1);
  if (auto* c = std::get_if<CosineAnnealingLR>(&*spec_.main); c && c->t_max == 0)
    c->t_max = rest_of_run("T_max", units, warmup_iters_);
  if (auto* o = std::get_if<OneCycleLR>(&*spec_.main)) {
    if (o->total_steps == 0) o->total_steps = rest_of_run("total_steps", units, warmup_iters_);
    if (!o->max_lr) o->max_lr = base_lr;
  }
  if (spec_.plateau) state_.plateau = initial_plateau_state(*spec_.plateau);
  state_.last_lr = lr(0);
}

std::int64_t Schedule::counter(std::int64_t step) const {
  return spec_.granularity == Granularity::Step ? step : step / run_.steps_per_epoch;
}

double Schedule::chain_lr(std::int64_t step) const {
  const std::int64_t t = counter(step);
  if (t < warmup_iters_) return sched::lr(*spec_.warmup, t, base_lr_);
  return sched::lr(*spec_.main, t - warmup_iters_, base_lr_);  // main's counter starts at 0 here
}

double Schedule::lr(std::int64_t step) const { return chain_lr(step) * state_.plateau.multiplier; }

double Schedule::lr() const { return lr(state_.step); }

bool Schedule::cycles_momentum() const {
  const auto* o = std::get_if<OneCycleLR>(&*spec_.main);
  return o && o->cycle_momentum;
}

std::optional<double> Schedule::momentum(std::int64_t step) const {
  if (!cycles_momentum()) return std::nullopt;
  const auto& o = std::get<OneCycleLR>(*spec_.main);
  // During a warm-up in front of a one-cycle, momentum waits at the cycle's starting value.
  const std::int64_t t = counter(step);
  return sched::momentum(o, t < warmup_iters_ ? 0 : t - warmup_iters_);
}

void Schedule::step() {
  ++state_.step;
  state_.last_lr = lr(state_.step);
}

bool Schedule::end_epoch(double metric) {
  if (!spec_.plateau) return false;
  // The cut is measured at the lr of the next step, as in PyTorch where the main scheduler's
  // step() runs before ReduceLROnPlateau.step(metric).
  const bool cut = plateau_step(*spec_.plateau, state_.plateau, metric, chain_lr(state_.step));
  state_.last_lr = lr(state_.step);
  return cut;
}

}  // namespace descent::sched
