// hpo/sampler_grid.cpp — every combination, each once, in a seeded order.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/rng.h"
#include "hpo/space_util.h"

namespace descent::hpo {
namespace {

constexpr std::size_t kMaxGridPoints = 1'000'000;
constexpr std::uint64_t kGridStream = 0x6772696400000000ULL;  // "grid": apart from trial streams

std::vector<Value> axis(const ParamSpec& spec, int points) {
  std::vector<Value> values;
  switch (spec.kind) {
    case ParamKind::Categorical:
      return spec.choices;
    case ParamKind::Int:
      if (!spec.log) {  // every value: integers are usually few (layers, epochs, a width step)
        for (std::int64_t i = 0; i < lattice_size(spec); ++i) values.push_back(lattice_value(spec, i));
        return values;
      }
      [[fallthrough]];  // a log range (batch 16..1024) gets `points` values like a real one
    default: {
      // `points` values evenly spaced (in log space for log parameters), snapped to the step.
      const bool log = is_log(spec);
      const double lo = log ? std::log(spec.low) : spec.low, hi = log ? std::log(spec.high) : spec.high;
      for (int i = 0; i < points; ++i) {
        double x = lo + (hi - lo) * i / (points - 1);
        if (log) x = std::exp(x);
        Value v = i == 0 ? spec.low : i == points - 1 ? spec.high : x;  // exact end points
        if (spec.kind == ParamKind::Int || spec.step > 0)
          v = from_internal(spec, is_log(spec) ? std::log(std::get<double>(v)) : std::get<double>(v));
        if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
      }
      return values;
    }
  }
}

// Depth-first over the parameters in condition order: an inactive parameter does not branch.
void expand(const SearchSpace& space, const std::vector<std::vector<Value>>& axes, std::size_t i, Params& current,
            std::vector<Params>& out) {
  if (out.size() > kMaxGridPoints)
    throw Error(fmt::format("grid sampler: the grid has more than {} points; narrow the space or use random/tpe",
                            kMaxGridPoints));
  if (i == space.params.size()) {
    out.push_back(current);
    return;
  }
  const ParamSpec& spec = space.params[i];
  if (!is_active(spec, current)) {
    expand(space, axes, i + 1, current, out);
    return;
  }
  for (const Value& v : axes[i]) {
    current[spec.name] = v;
    expand(space, axes, i + 1, current, out);
  }
  current.erase(spec.name);
}

}  // namespace

GridSampler::GridSampler(GridOptions options) : options_(options) {
  if (options_.points < 2) throw Error(fmt::format("grid sampler: points must be >= 2 (got {})", options_.points));
}

std::vector<Params> GridSampler::grid(const SearchSpace& space) const {
  std::vector<std::vector<Value>> axes;
  for (const ParamSpec& spec : space.params) axes.push_back(axis(spec, options_.points));
  std::vector<Params> points;
  Params current;
  expand(space, axes, 0, current, points);
  // Seeded Fisher-Yates: a budget smaller than the grid still spreads over the whole grid.
  Rng rng(options_.seed, kGridStream);
  for (std::size_t i = points.size(); i > 1; --i) std::swap(points[i - 1], points[rng.index(i)]);
  return points;
}

std::optional<Params> GridSampler::sample(const SearchSpace& space, const History& history, int /*number*/) {
  // Skipping the points already in the history (rather than taking point `number`) keeps the
  // grid whole across resumes and re-queued trials.
  if (const std::string key = signature(space); key != signature_) {
    grid_ = grid(space);
    signature_ = key;
  }
  std::set<Params> seen;
  for (const Trial& t : history.trials) seen.insert(t.params);
  for (const Params& p : grid_)
    if (!seen.count(p)) return p;
  return std::nullopt;
}

}  // namespace descent::hpo
