// Dataset helpers shared by every format: copies of subsets, seed derivation, row gathering.
#include <fmt/format.h>

#include <cstring>

#include "data/gather.h"
#include "descent/data.h"

namespace descent::data {

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) {
  // splitmix64's finalizer on each word in turn: nearby (seed, a, b) triples give unrelated
  // streams, so run seed 1 / epoch 0 is not run seed 0 / epoch 1 as it would be with seed + epoch.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed + 0x9e3779b97f4a7c15ULL);
  h = mix(h ^ (a + 0x3c6ef372fe94f82bULL));
  return mix(h ^ (b + 0xdaa66d2c7ddf743fULL));
}

Dataset subset(const Dataset& dataset, const std::vector<int64_t>& indices) {
  check_indices(indices, dataset.size(), "subset");
  Dataset out = dataset;
  out.inputs = gather_rows(dataset.inputs, indices);
  out.targets = gather_rows(dataset.targets, indices);
  return out;
}

void check_indices(const std::vector<int64_t>& indices, int64_t n, const char* what) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= n) {
      throw Error(fmt::format("{}: index {} at position {} is outside the dataset of {} samples", what, indices[i], i, n));
    }
  }
}

Tensor gather_rows(const Tensor& src, const std::vector<int64_t>& indices) {
  Shape shape = src.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = empty(shape, src.dtype());
  const size_t row_bytes = static_cast<size_t>(src.numel() / std::max<int64_t>(src.size(0), 1)) * dtype_size(src.dtype());
  const auto* s = static_cast<const unsigned char*>(src.raw_data());
  auto* d = static_cast<unsigned char*>(out.raw_data());
  for (size_t i = 0; i < indices.size(); ++i) {
    std::memcpy(d + i * row_bytes, s + static_cast<size_t>(indices[i]) * row_bytes, row_bytes);
  }
  return out;
}

}  // namespace descent::data
