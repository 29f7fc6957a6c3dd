// `descent schedule`'s data: the lr (and cycled momentum) per optimizer step, as CSV.
#include <fmt/format.h>

#include "descent/error.h"
#include "descent/sched.h"
#include "sched/text.h"

namespace descent::sched {

Trace trace(const Schedule& s, std::int64_t steps) {
  Trace t;
  if (steps < 0) throw Error(fmt::format("schedule: number of steps must be >= 0, got {}", steps));
  t.lr.reserve(static_cast<std::size_t>(steps));
  for (std::int64_t i = 0; i < steps; ++i) t.lr.push_back(s.lr(i));
  if (s.cycles_momentum()) {
    t.momentum.reserve(static_cast<std::size_t>(steps));
    for (std::int64_t i = 0; i < steps; ++i) t.momentum.push_back(*s.momentum(i));
  }
  return t;
}

std::string schedule_csv(const Trace& t) {
  const bool with_momentum = !t.momentum.empty();
  if (with_momentum && t.momentum.size() != t.lr.size())
    throw Error(fmt::format("schedule_csv: {} momentum values for {} lr values", t.momentum.size(), t.lr.size()));
  // Shortest round-trip decimals: the CSV reads back to exactly the doubles the trainer uses.
  std::string out = with_momentum ? "step,lr,momentum\n" : "step,lr\n";
  for (std::size_t i = 0; i < t.lr.size(); ++i) {
    out += fmt::format("{},{}", i, detail::format_double(t.lr[i]));
    if (with_momentum) {
      out += ',';
      out += detail::format_double(t.momentum[i]);
    }
    out += '\n';
  }
  return out;
}

}  // namespace descent::sched
