// hpo/rng.h — the random numbers of the samplers, identical on every platform.
//
// std::uniform_real_distribution and friends are implementation-defined, so a seed would give
// different trials under libstdc++ and libc++. mt19937_64's raw output is specified; the
// conversions to [0, 1), normals and indices below are ours.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace descent::hpo {

/// splitmix64: spreads nearby seeds (0, 1, 2 ...) over the whole state space.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// One reproducible stream per (seed, stream): samplers use the trial number as the stream, so
/// a trial's draws do not depend on how many draws earlier trials made.
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) : engine_(mix64(mix64(seed) ^ stream)) {}

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  /// Uniform integer in [0, n), unbiased (rejection).
  std::uint64_t index(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t r = engine_();
    while (r >= limit) r = engine_();
    return r % n;
  }
  /// Standard normal (Box-Muller; the second value is dropped to keep the stream simple).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace descent::hpo
