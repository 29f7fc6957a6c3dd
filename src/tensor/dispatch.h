// Internal: calling a generic lambda with the C++ type of a runtime dtype.
//
//   dispatch_float(t.dtype(), "relu", [&](auto tag) { using T = typename decltype(tag)::type; ... });
#pragma once
#include <cstdint>
#include <string>

#include "descent/tensor.h"

namespace descent {

template <class T>
struct TypeTag {
  using type = T;
};

/// Calls f(TypeTag<T>{}) for float32 / float64; throws naming `what` for other dtypes.
template <class F>
decltype(auto) dispatch_float(DType d, const char* what, F&& f) {
  switch (d) {
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
    default:
      throw Error(std::string(what) + ": needs a floating tensor (float32 or float64), got " + dtype_name(d));
  }
}

/// Calls f(TypeTag<T>{}) for every dtype.
template <class F>
decltype(auto) dispatch_all(DType d, F&& f) {
  switch (d) {
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
    case DType::I64: return f(TypeTag<int64_t>{});
    case DType::U8: return f(TypeTag<uint8_t>{});
    default: throw Error("invalid dtype");
  }
}

template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

}  // namespace descent
