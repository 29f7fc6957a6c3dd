// xoshiro256** (Blackman & Vigna): small state that a checkpoint can store exactly, fast, and
// good enough statistically for initialization, shuffling and dropout masks.
#include <cmath>
#include <cstring>
#include <numbers>

#include "descent/tensor.h"

namespace descent {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Generator::Generator(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  double u1 = 0.0;
  do u1 = uniform(); while (u1 <= 0.0);
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  double a = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

uint64_t Generator::below(uint64_t n) {
  if (n == 0) throw Error("Generator::below(0)");
  // Lemire's rejection keeps the draw exactly uniform.
  uint64_t threshold = (0 - n) % n;
  for (;;) {
    uint64_t r = next_u64();
    if (r >= threshold) return r % n;
  }
}

std::vector<uint64_t> Generator::state() const {
  uint64_t spare_bits = 0;
  static_assert(sizeof(double) == sizeof(uint64_t));
  std::memcpy(&spare_bits, &spare_normal_, sizeof spare_bits);
  return {s_[0], s_[1], s_[2], s_[3], spare_bits, has_spare_ ? 1u : 0u};
}

void Generator::set_state(const std::vector<uint64_t>& s) {
  if (s.size() != 6) throw Error("generator state must have 6 words, got " + std::to_string(s.size()));
  for (int i = 0; i < 4; ++i) s_[i] = s[i];
  std::memcpy(&spare_normal_, &s[4], sizeof spare_normal_);
  has_spare_ = s[5] != 0;
}

}  // namespace descent
