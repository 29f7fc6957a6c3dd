// Cosine annealing and its warm restarts (SGDR). Operation order follows PyTorch's formulas
// (eta_min + (b − eta_min)·(1 + cos(π·t/T))/2) so the values agree to the last bits.
#include <cmath>
#include <numbers>

#include "descent/sched.h"

namespace descent::sched {

double lr(const CosineAnnealingLR& s, std::int64_t t, double b) {
  const double angle = std::numbers::pi * static_cast<double>(t) / static_cast<double>(s.t_max);
  return s.eta_min + (b - s.eta_min) * (1.0 + std::cos(angle)) / 2.0;
}

double lr(const CosineAnnealingWarmRestarts& s, std::int64_t t, double b) {
  // Walk the cycles in integers, as PyTorch does when stepped one by one: its closed form for
  // T_mult > 1 goes through a floating-point log and can land in the wrong cycle at a boundary.
  std::int64_t t_cur = t;
  std::int64_t t_i = s.t_0;
  while (t_cur >= t_i) {
    t_cur -= t_i;
    t_i *= s.t_mult;
  }
  const double angle = std::numbers::pi * static_cast<double>(t_cur) / static_cast<double>(t_i);
  return s.eta_min + (b - s.eta_min) * (1.0 + std::cos(angle)) / 2.0;
}

}  // namespace descent::sched
