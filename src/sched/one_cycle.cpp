// One-cycle (Smith & Topin, "Super-Convergence"), two phases as in PyTorch's OneCycleLR with
// three_phase=False: lr rises from max_lr/div_factor to max_lr over pct_start of the cycle, then
// falls to initial/final_div_factor; momentum moves the opposite way.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "descent/sched.h"

namespace descent::sched {
namespace {

double anneal(Anneal how, double start, double end, double pct) {
  if (how == Anneal::Cos) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
  return (end - start) * pct + start;
}

// Where t lies in the cycle: phase 0 (rising lr) or 1 (falling), and the fraction done.
struct Position {
  int phase;
  double pct;
};

Position locate(const OneCycleLR& s, std::int64_t t) {
  // PyTorch raises past the cycle; holding the last value keeps `descent schedule --steps N`
  // usable for any N.
  const double step = static_cast<double>(std::min(t, s.total_steps - 1));
  const double end0 = s.pct_start * static_cast<double>(s.total_steps) - 1.0;
  const double end1 = static_cast<double>(s.total_steps - 1);
  // A phase of zero length (pct_start·total_steps = 1, or pct_start = 1) would divide 0 by 0;
  // PyTorch fails there, we stand at the phase's end.
  if (step <= end0) return {0, end0 == 0.0 ? 1.0 : step / end0};
  return {1, end1 == end0 ? 1.0 : (step - end0) / (end1 - end0)};
}

}  // namespace

double lr(const OneCycleLR& s, std::int64_t t, double b) {
  const double max_lr = s.max_lr.value_or(b);
  const double initial_lr = max_lr / s.div_factor;
  const double min_lr = initial_lr / s.final_div_factor;
  const Position p = locate(s, t);
  return p.phase == 0 ? anneal(s.anneal_strategy, initial_lr, max_lr, p.pct)
                      : anneal(s.anneal_strategy, max_lr, min_lr, p.pct);
}

double momentum(const OneCycleLR& s, std::int64_t t) {
  const Position p = locate(s, t);
  return p.phase == 0 ? anneal(s.anneal_strategy, s.max_momentum, s.base_momentum, p.pct)
                      : anneal(s.anneal_strategy, s.base_momentum, s.max_momentum, p.pct);
}

}  // namespace descent::sched
