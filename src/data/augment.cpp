// Image augmentation on a converted batch. A crop of the original size out of an image padded by
// p pixels is the image shifted by (dy, dx) in [-p, p]^2 with zero fill, and a translation by up
// to t pixels is the same with [-t, t]; both are done by one shift per sample.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "data/loader_impl.h"

namespace descent::data {
namespace {

// out[y][x] = in[y + dy][sx + dx] with sx = x, or w - 1 - x when flipped (the shifted image is
// mirrored); zero where that reads outside the image. Per row: the valid x range, then a copy
// (or a reversed copy), so there is no bounds test per pixel.
template <class T>
void transform_image(const T* in, T* out, int64_t channels, int64_t h, int64_t w, int64_t dy, int64_t dx, bool flip) {
  // Unflipped, x reads x + dx: valid for x in [-dx, w - dx). Flipped, x reads w - 1 - x + dx:
  // valid for x in [dx, w + dx).
  const int64_t x0 = std::clamp<int64_t>(flip ? dx : -dx, 0, w);
  const int64_t x1 = std::clamp<int64_t>(flip ? w + dx : w - dx, x0, w);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      T* drow = out + (c * h + y) * w;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= h) {
        std::fill(drow, drow + w, T(0));
        continue;
      }
      const T* srow = in + (c * h + sy) * w;
      std::fill(drow, drow + x0, T(0));
      if (flip) {
        for (int64_t x = x0; x < x1; ++x) drow[x] = srow[w - 1 - x + dx];
      } else {
        std::copy(srow + x0 + dx, srow + x1 + dx, drow + x0);
      }
      std::fill(drow + x1, drow + w, T(0));
    }
  }
}

template <class T>
void augment_typed(T* x, int64_t batch, int64_t channels, int64_t h, int64_t w, const AugmentOptions& o, Generator& gen) {
  std::vector<T> scratch(static_cast<size_t>(channels * h * w));
  for (int64_t b = 0; b < batch; ++b) {
    // Which numbers are drawn depends on the options only, never on earlier outcomes, so a
    // sample's transform is fixed by the generator's state at the start of the batch.
    const bool flip = o.horizontal_flip && gen.uniform() < 0.5;
    int64_t dy = 0, dx = 0;
    if (o.crop_padding > 0) {
      dy += static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * o.crop_padding + 1))) - o.crop_padding;
      dx += static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * o.crop_padding + 1))) - o.crop_padding;
    }
    if (o.max_translation > 0) {
      dy += static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * o.max_translation + 1))) - o.max_translation;
      dx += static_cast<int64_t>(gen.below(static_cast<uint64_t>(2 * o.max_translation + 1))) - o.max_translation;
    }
    if (!flip && dy == 0 && dx == 0) continue;
    T* img = x + b * channels * h * w;
    std::memcpy(scratch.data(), img, scratch.size() * sizeof(T));
    transform_image(scratch.data(), img, channels, h, w, dy, dx, flip);
  }
}

}  // namespace

void check_augment(const AugmentOptions& o, const Shape& sample_shape) {
  if (o.crop_padding < 0 || o.max_translation < 0) {
    throw Error(fmt::format("data: augmentation crop_padding and max_translation must be non-negative, got {} and {}",
                            o.crop_padding, o.max_translation));
  }
  if (o.enabled() && sample_shape.size() != 3) {
    throw Error(fmt::format("data: augmentation needs image samples [C, H, W], got {}", shape_str(sample_shape)));
  }
}

void augment_batch(Tensor& x, const Shape& sample_shape, const AugmentOptions& o, Generator& gen) {
  check_augment(o, sample_shape);
  if (!o.enabled()) return;
  const int64_t c = sample_shape[0], h = sample_shape[1], w = sample_shape[2];
  if (x.numel() != x.size(0) * c * h * w) {
    throw Error(fmt::format("data: batch {} does not hold samples of {}", x.shape_str(), shape_str(sample_shape)));
  }
  switch (x.dtype()) {
    case DType::F32: return augment_typed(x.data<float>(), x.size(0), c, h, w, o, gen);
    case DType::F64: return augment_typed(x.data<double>(), x.size(0), c, h, w, o, gen);
    default: throw Error(fmt::format("data: augmentation needs a float batch, got {}", dtype_name(x.dtype())));
  }
}

}  // namespace descent::data
