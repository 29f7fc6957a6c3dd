#include <fmt/format.h>

#include "descent/tensor.h"

namespace descent {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::U8: return 1;
    default: throw Error("invalid dtype");
  }
}

const char* dtype_name(DType d) {
  static constexpr const char* kNames[] = {"float32", "float64", "int64", "uint8"};
  static_assert(std::size(kNames) == static_cast<size_t>(DType::Count), "a dtype has no name");
  auto i = static_cast<size_t>(d);
  return i < std::size(kNames) ? kNames[i] : "invalid";
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "float") return DType::F32;
  if (name == "float64" || name == "f64" || name == "double") return DType::F64;
  if (name == "int64" || name == "i64" || name == "long") return DType::I64;
  if (name == "uint8" || name == "u8") return DType::U8;
  throw Error(fmt::format("unknown dtype '{}' (expected float32, float64, int64 or uint8)", name));
}

bool is_floating(DType d) { return d == DType::F32 || d == DType::F64; }

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t e : s) {
    if (e < 0) throw Error(fmt::format("negative extent in shape {}", shape_str(s)));
    n *= e;
  }
  return n;
}

}  // namespace descent
