// Range checks of every schedule option. Messages use the config's (PyTorch's) key names, which
// are also what a C++ caller finds documented in sched.h.
#include "sched/check.h"

#include <fmt/format.h>

#include <cmath>

#include "descent/error.h"

namespace descent::sched::detail {
namespace {

// Collects the prefix "{where}: [schedule.<part>]" once, so each check is one line.
class Checker {
 public:
  Checker(const std::string& where, std::string_view part) : prefix_(fmt::format("{}: [schedule.{}]", where, part)) {}

  void positive(std::string_view key, double v) const {
    if (!(v > 0.0) || !std::isfinite(v)) fail(key, "must be > 0", v);
  }
  void non_negative(std::string_view key, double v) const {
    if (!(v >= 0.0) || !std::isfinite(v)) fail(key, "must be >= 0", v);
  }
  void unit_interval(std::string_view key, double v) const {
    if (!(v >= 0.0 && v <= 1.0)) fail(key, "must be in [0, 1]", v);
  }
  void at_least(std::string_view key, std::int64_t v, std::int64_t lo) const {
    if (v < lo) fail(key, fmt::format("must be >= {}", lo), v);
  }
  template <class T>
  [[noreturn]] void fail(std::string_view key, std::string_view rule, T got) const {
    throw Error(fmt::format("{} '{}' {}, got {}", prefix_, key, rule, got));
  }

 private:
  std::string prefix_;
};

void check(const Checker& c, const ConstantLR& s) {
  c.unit_interval("factor", s.factor);
  c.at_least("total_iters", s.total_iters, 0);
}
void check(const Checker& c, const StepLR& s) {
  c.at_least("step_size", s.step_size, 1);
  c.positive("gamma", s.gamma);
}
void check(const Checker& c, const MultiStepLR& s) {
  if (s.milestones.empty()) c.fail("milestones", "must list at least one step", "[]");
  for (std::size_t i = 0; i < s.milestones.size(); ++i) {
    c.at_least("milestones", s.milestones[i], 0);
    if (i > 0 && s.milestones[i] < s.milestones[i - 1])
      c.fail("milestones", "must be non-decreasing",
             fmt::format("{} after {}", s.milestones[i], s.milestones[i - 1]));
  }
  c.positive("gamma", s.gamma);
}
void check(const Checker& c, const ExponentialLR& s) { c.positive("gamma", s.gamma); }
void check(const Checker& c, const PolynomialLR& s) {
  c.at_least("total_iters", s.total_iters, 1);
  c.non_negative("power", s.power);
}
void check(const Checker& c, const LinearLR& s) {
  c.unit_interval("start_factor", s.start_factor);
  c.unit_interval("end_factor", s.end_factor);
  c.at_least("total_iters", s.total_iters, 1);
}
void check(const Checker& c, const CosineAnnealingLR& s) {
  c.at_least("T_max", s.t_max, 0);
  c.non_negative("eta_min", s.eta_min);
}
void check(const Checker& c, const CosineAnnealingWarmRestarts& s) {
  c.at_least("T_0", s.t_0, 1);
  c.at_least("T_mult", s.t_mult, 1);
  c.non_negative("eta_min", s.eta_min);
}
void check(const Checker& c, const OneCycleLR& s) {
  if (s.max_lr) c.positive("max_lr", *s.max_lr);
  c.at_least("total_steps", s.total_steps, 0);
  c.unit_interval("pct_start", s.pct_start);
  c.unit_interval("base_momentum", s.base_momentum);
  c.unit_interval("max_momentum", s.max_momentum);
  c.positive("div_factor", s.div_factor);
  c.positive("final_div_factor", s.final_div_factor);
}
void check(const Checker& c, const ReduceLROnPlateau& p) {
  if (p.metric.empty()) c.fail("metric", "must name a metric", "\"\"");
  if (!(p.factor > 0.0 && p.factor < 1.0)) c.fail("factor", "must be in (0, 1)", p.factor);
  c.at_least("patience", p.patience, 0);
  c.non_negative("threshold", p.threshold);
  c.at_least("cooldown", p.cooldown, 0);
  c.non_negative("min_lr", p.min_lr);
  c.non_negative("eps", p.eps);
}

}  // namespace

void check_spec(const ScheduleSpec& spec, const std::string& where) {
  if (spec.warmup) check(Checker(where, "warmup"), *spec.warmup);
  if (spec.main) std::visit([&](const auto& s) { check(Checker(where, "main"), s); }, *spec.main);
  if (spec.plateau) check(Checker(where, "plateau"), *spec.plateau);
}

}  // namespace descent::sched::detail
