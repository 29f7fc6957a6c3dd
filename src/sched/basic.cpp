// The piecewise and geometric schedules: constant, step, multistep, exponential, polynomial,
// linear. Each expression copies the operation order of PyTorch's _get_closed_form_lr, so the
// values differ from PyTorch's (recursive) stepping only by the rounding PyTorch accumulates.
#include <algorithm>
#include <cmath>
#include <variant>

#include "descent/sched.h"

namespace descent::sched {

double lr(const ConstantLR& s, std::int64_t t, double b) {
  return b * (s.factor + static_cast<double>(t >= s.total_iters) * (1.0 - s.factor));
}

double lr(const StepLR& s, std::int64_t t, double b) {
  return b * std::pow(s.gamma, static_cast<double>(t / s.step_size));
}

double lr(const MultiStepLR& s, std::int64_t t, double b) {
  // Milestones are non-decreasing (checked), so upper_bound counts those <= t, repeats included.
  const auto passed = std::upper_bound(s.milestones.begin(), s.milestones.end(), t) - s.milestones.begin();
  return b * std::pow(s.gamma, static_cast<double>(passed));
}

double lr(const ExponentialLR& s, std::int64_t t, double b) {
  return b * std::pow(s.gamma, static_cast<double>(t));
}

double lr(const PolynomialLR& s, std::int64_t t, double b) {
  const double done = static_cast<double>(std::min(s.total_iters, t)) / static_cast<double>(s.total_iters);
  return b * std::pow(1.0 - done, s.power);
}

double lr(const LinearLR& s, std::int64_t t, double b) {
  return b * (s.start_factor + (s.end_factor - s.start_factor) * static_cast<double>(std::min(s.total_iters, t)) /
                                   static_cast<double>(s.total_iters));
}

double lr(const MainSchedule& s, std::int64_t t, double b) {
  return std::visit([&](const auto& m) { return lr(m, t, b); }, s);
}

}  // namespace descent::sched
