// sched/spec_toml.h — reads the config's [schedule] table into a ScheduleSpec.
//
//   [schedule]
//   granularity = "step"                                  # or "epoch"; default "step"
//   warmup  = { start_factor = 0.1, total_iters = 500 }   # LinearLR; end_factor optional
//   main    = { type = "cosine", eta_min = 1e-5 }         # T_max omitted = rest of the run
//   plateau = { metric = "val_loss", factor = 0.5, patience = 3 }
//
// `warmup`, `main` and `plateau` may also be written as [schedule.warmup] etc.; each is
// optional. Main types and their keys (PyTorch's argument names):
//   constant              factor, total_iters
//   step                  step_size (required), gamma
//   multistep             milestones (required), gamma
//   exponential           gamma (required)
//   polynomial            total_iters, power
//   linear                start_factor, end_factor, total_iters
//   cosine                T_max, eta_min
//   cosine_warm_restarts  T_0 (required), T_mult, eta_min
//   one_cycle             max_lr, total_steps, pct_start, anneal_strategy ("cos"|"linear"),
//                         cycle_momentum, base_momentum, max_momentum, div_factor, final_div_factor
// warmup: start_factor, end_factor, total_iters (required).
// plateau: metric, mode ("min"|"max"), factor, patience, threshold, threshold_mode ("rel"|"abs"),
//          cooldown, min_lr, eps.
// Omitted keys take the defaults documented in descent/sched.h. Float keys accept integers.
#pragma once
#include <string>
#include <toml++/toml.h>

#include "descent/sched.h"

namespace descent::sched {

/// Parses [schedule]; descent::Error("{where}: [schedule.main] unknown key 'gama' (did you mean
/// 'gamma'?)") on an unknown key, a wrong type, a missing required key or a value out of range.
ScheduleSpec parse_schedule_spec(const toml::table& schedule_table, const std::string& where);

}  // namespace descent::sched
