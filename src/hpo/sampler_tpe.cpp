// hpo/sampler_tpe.cpp — Tree-structured Parzen Estimator (Bergstra et al. 2011).
//
// Per parameter, over the finished trials in which it was active: rank them (complete ones by
// value; pruned ones after, those that got further first; those that ended non-finite last),
// call the best gamma-fraction "good",
// fit l(x) to the good and g(x) to the rest, draw candidates from l and keep the one with the
// largest l(x) / g(x) (the expected-improvement maximizer under TPE's model).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/parzen.h"
#include "hpo/rng.h"
#include "hpo/space_util.h"

namespace descent::hpo {
namespace {

constexpr std::size_t kMaxGood = 25;  // Optuna's default_gamma: min(ceil(0.1 n), 25)

struct Observation {
  int number;
  double x;                              // in TPE's space, or the choice index
  std::tuple<int, double, double> rank;  // smaller is better
};

bool finished(const Trial& t) {
  return (t.state == TrialState::Complete && t.value && std::isfinite(*t.value)) ||
         (t.state == TrialState::Pruned && !t.intermediate.empty());
}

std::tuple<int, double, double> rank_of(const Trial& t, Direction direction) {
  const double sign = direction == Direction::Minimize ? 1.0 : -1.0;
  const double inf = std::numeric_limits<double>::infinity();
  if (t.state == TrialState::Complete) return {0, 0.0, sign * *t.value};
  const auto& [step, value] = *t.intermediate.rbegin();
  if (!std::isfinite(value)) return {2, 0.0, inf};  // stopped as dead/diverged: worst of all
  return {1, -static_cast<double>(step), sign * value};
}

}  // namespace

TpeSampler::TpeSampler(TpeOptions options) : options_(options) {
  if (options_.n_ei_candidates < 1) throw Error("tpe sampler: n_ei_candidates must be >= 1");
  if (!(options_.gamma > 0 && options_.gamma <= 1)) throw Error("tpe sampler: gamma must be in (0, 1]");
  if (!(options_.prior_weight > 0)) throw Error("tpe sampler: prior_weight must be positive");
}

std::optional<Params> TpeSampler::sample(const SearchSpace& space, const History& history, int number) {
  Rng rng(options_.seed, static_cast<std::uint64_t>(number));
  const auto n_finished = std::count_if(history.trials.begin(), history.trials.end(), finished);
  const bool startup = n_finished < options_.n_startup_trials;

  Params params;
  for (const ParamSpec& spec : space.params) {
    if (!is_active(spec, params)) continue;
    std::vector<Observation> obs;
    if (!startup) {
      for (const Trial& t : history.trials) {
        auto it = t.params.find(spec.name);
        if (!finished(t) || it == t.params.end()) continue;
        const double x =
            spec.kind == ParamKind::Categorical ? choice_index(spec, it->second) : to_internal(spec, it->second);
        if (spec.kind == ParamKind::Categorical && x < 0) continue;  // a choice no longer offered
        obs.push_back({t.number, x, rank_of(t, history.direction)});
      }
    }
    if (obs.empty()) {
      params[spec.name] = draw_random(spec, rng);
      continue;
    }
    std::stable_sort(obs.begin(), obs.end(), [](const auto& a, const auto& b) { return a.rank < b.rank; });
    const auto n_good = std::min(kMaxGood, static_cast<std::size_t>(std::ceil(options_.gamma * obs.size())));
    std::vector<Observation> good(obs.begin(), obs.begin() + static_cast<std::ptrdiff_t>(n_good));
    std::vector<Observation> bad(obs.begin() + static_cast<std::ptrdiff_t>(n_good), obs.end());
    auto by_number = [](const Observation& a, const Observation& b) { return a.number < b.number; };
    std::sort(good.begin(), good.end(), by_number);  // the weights favour newer observations
    std::sort(bad.begin(), bad.end(), by_number);

    if (spec.kind == ParamKind::Categorical) {
      auto indices = [](const std::vector<Observation>& v) {
        std::vector<int> out;
        for (const auto& o : v) out.push_back(static_cast<int>(o.x));
        return out;
      };
      const int n = static_cast<int>(spec.choices.size());
      CategoricalParzen l(indices(good), n, options_.prior_weight), g(indices(bad), n, options_.prior_weight);
      int best = -1;
      double best_score = -std::numeric_limits<double>::infinity();
      for (int i = 0; i < options_.n_ei_candidates; ++i) {
        const int c = l.sample(rng);
        const double score = l.log_pmf(c) - g.log_pmf(c);
        if (best < 0 || score > best_score) best = c, best_score = score;
      }
      params[spec.name] = spec.choices[static_cast<std::size_t>(best)];
    } else {
      auto xs = [](const std::vector<Observation>& v) {
        std::vector<double> out;
        for (const auto& o : v) out.push_back(o.x);
        return out;
      };
      const auto [low, high] = internal_bounds(spec);
      NumericParzen l(xs(good), low, high, options_.prior_weight), g(xs(bad), low, high, options_.prior_weight);
      double best = 0, best_score = -std::numeric_limits<double>::infinity();
      for (int i = 0; i < options_.n_ei_candidates; ++i) {
        const double x = l.sample(rng);
        const double score = l.log_pdf(x) - g.log_pdf(x);
        if (i == 0 || score > best_score) best = x, best_score = score;
      }
      params[spec.name] = from_internal(spec, best);
    }
  }
  return params;
}

}  // namespace descent::hpo
