#include "data/gather.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace descent::data {
namespace {

template <class Dst>
void gather_u8(const uint8_t* src, const int64_t* idx, int64_t count, int64_t row, double scale, Dst* dst) {
  // A 256-entry table computed in double and rounded once: the same values as x / 255 in the
  // destination type, and one load per pixel instead of a convert and a multiply.
  std::array<Dst, 256> table;
  for (int v = 0; v < 256; ++v) table[v] = static_cast<Dst>(v * scale);
  for (int64_t b = 0; b < count; ++b) {
    const uint8_t* s = src + idx[b] * row;
    Dst* d = dst + b * row;
    for (int64_t k = 0; k < row; ++k) d[k] = table[s[k]];
  }
}

template <class Src, class Dst>
void gather_float(const Src* src, const int64_t* idx, int64_t count, int64_t row, Dst* dst) {
  for (int64_t b = 0; b < count; ++b) {
    const Src* s = src + idx[b] * row;
    Dst* d = dst + b * row;
    if constexpr (std::is_same_v<Src, Dst>) {
      std::memcpy(d, s, static_cast<size_t>(row) * sizeof(Dst));
    } else {
      for (int64_t k = 0; k < row; ++k) d[k] = static_cast<Dst>(s[k]);
    }
  }
}

template <class Dst>
void gather_to(const Tensor& src, const int64_t* idx, int64_t count, int64_t row, double scale, Dst* dst) {
  switch (src.dtype()) {
    case DType::U8: return gather_u8(src.data<uint8_t>(), idx, count, row, scale, dst);
    case DType::F32: return gather_float(src.data<float>(), idx, count, row, dst);
    case DType::F64: return gather_float(src.data<double>(), idx, count, row, dst);
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
