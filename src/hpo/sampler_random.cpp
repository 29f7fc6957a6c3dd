// hpo/sampler_random.cpp — independent uniform draws.
#include "descent/hpo.h"
#include "hpo/rng.h"
#include "hpo/space_util.h"

namespace descent::hpo {

RandomSampler::RandomSampler(RandomOptions options) : options_(options) {}

std::optional<Params> RandomSampler::sample(const SearchSpace& space, const History& /*history*/, int number) {
  // One stream per trial number: trial n gets the same values whatever ran before it.
  Rng rng(options_.seed, static_cast<std::uint64_t>(number));
  Params params;
  for (const ParamSpec& spec : space.params)
    if (is_active(spec, params)) params[spec.name] = draw_random(spec, rng);
  return params;
}

}  // namespace descent::hpo
