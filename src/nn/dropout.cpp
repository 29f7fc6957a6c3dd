// Dropout modules: a mode switch around ops::dropout and the generator that draws its masks;
// Dropout2d draws one mask value per (sample, channel) and spreads it over the feature map.
#include <fmt/format.h>

#include <algorithm>

#include "descent/nn.h"

namespace descent::nn {

Dropout::Dropout(double p, uint64_t seed) : p_(p), gen_(seed) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("Dropout: p must be in [0, 1], got {}", p));
}

std::string Dropout::describe() const { return fmt::format("Dropout(p={})", p_); }

std::string Dropout2d::describe() const { return fmt::format("Dropout2d(p={})", p_); }

Tensor Dropout2d::forward(const Tensor& x) {
  if (x.dim() != 3 && x.dim() != 4)
    throw Error(fmt::format("Dropout2d: input of shape {} (expected [N, C, H, W] or [C, H, W])", x.shape_str()));
  if (!is_training() || p_ == 0.0) return x;
  // One draw per map, in (n, c) order, then the map's value repeated over H x W.
  const int64_t maps = x.dim() == 4 ? x.size(0) * x.size(1) : x.size(0);
  const int64_t area = x.size(-1) * x.size(-2);
  Tensor per_map = ops::bernoulli_mask({maps}, 1.0 - p_, gen_);
  Tensor mask = empty(x.shape(), DType::U8);
  const uint8_t* src = per_map.data<uint8_t>();
  uint8_t* dst = mask.data<uint8_t>();
  for (int64_t m = 0; m < maps; ++m) std::fill(dst + m * area, dst + (m + 1) * area, src[m]);
  return ops::dropout(x, p_, mask);
}

}  // namespace descent::nn
