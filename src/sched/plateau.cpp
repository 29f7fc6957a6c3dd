// Reduce-on-plateau as a multiplier. PyTorch's ReduceLROnPlateau rewrites the optimizer's lr;
// here its cuts accumulate in a multiplier m on top of the chain, so a warm-up or cosine keeps
// running underneath. With a constant chain the two are the same rule.
#include <algorithm>
#include <limits>

#include "descent/sched.h"

namespace descent::sched {
namespace {

bool is_better(const ReduceLROnPlateau& p, double a, double best) {
  if (p.mode == PlateauMode::Min) {
    return p.threshold_mode == ThresholdMode::Rel ? a < best * (1.0 - p.threshold) : a < best - p.threshold;
  }
  return p.threshold_mode == ThresholdMode::Rel ? a > best * (p.threshold + 1.0) : a > best + p.threshold;
}

// PyTorch's _reduce_lr on the lr of the moment, chain_lr·m.
bool cut(const ReduceLROnPlateau& p, PlateauState& s, double chain_lr) {
  const double old_lr = chain_lr * s.multiplier;
  const double new_lr = std::max(old_lr * p.factor, p.min_lr);
  if (!(old_lr - new_lr > p.eps)) return false;
  // Keep m a plain product of factors when min_lr does not bind (exact for a constant chain);
  // at the floor, m is whatever puts the lr of the moment on min_lr.
  s.multiplier = new_lr == old_lr * p.factor ? s.multiplier * p.factor : new_lr / chain_lr;
  return true;
}

}  // namespace

PlateauState initial_plateau_state(const ReduceLROnPlateau& p) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return {.best = p.mode == PlateauMode::Min ? kInf : -kInf};
}

bool plateau_step(const ReduceLROnPlateau& p, PlateauState& s, double metric, double chain_lr) {
  if (is_better(p, metric, s.best)) {
    s.best = metric;
    s.num_bad_epochs = 0;
  } else {
    ++s.num_bad_epochs;
  }
  if (s.cooldown_counter > 0) {
    --s.cooldown_counter;
    s.num_bad_epochs = 0;  // bad epochs in the cooldown do not count
  }
  if (s.num_bad_epochs <= p.patience) return false;
  const bool reduced = cut(p, s, chain_lr);
  // Like PyTorch, the cooldown starts and the count resets even when eps skipped the cut.
  s.cooldown_counter = p.cooldown;
  s.num_bad_epochs = 0;
  return reduced;
}

}  // namespace descent::sched
