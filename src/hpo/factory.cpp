// hpo/factory.cpp — samplers and pruners from a study's configuration.
#include "descent/hpo.h"

namespace descent::hpo {
namespace {
template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;
}  // namespace

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config) {
  return std::visit(
      Overloaded{
          [](const GridOptions& o) -> std::unique_ptr<Sampler> { return std::make_unique<GridSampler>(o); },
          [](const RandomOptions& o) -> std::unique_ptr<Sampler> { return std::make_unique<RandomSampler>(o); },
          [](const TpeOptions& o) -> std::unique_ptr<Sampler> { return std::make_unique<TpeSampler>(o); },
      },
      config);
}

std::unique_ptr<Pruner> make_pruner(const PrunerConfig& config) {
  return std::visit(
      Overloaded{
          [](const NoPruning&) -> std::unique_ptr<Pruner> { return nullptr; },
          [](const MedianOptions& o) -> std::unique_ptr<Pruner> { return std::make_unique<MedianPruner>(o); },
          [](const AshaOptions& o) -> std::unique_ptr<Pruner> { return std::make_unique<AshaPruner>(o); },
          [](const HyperbandOptions& o) -> std::unique_ptr<Pruner> { return std::make_unique<HyperbandPruner>(o); },
      },
      config);
}

}  // namespace descent::hpo
