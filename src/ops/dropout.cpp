// Dropout: inverted scaling (kept values are divided by 1 - p, so evaluation needs no rescale).
// The mask is an explicit uint8 tensor, so a test can fix it and gradcheck the op.
#include <fmt/format.h>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::record;

namespace {
void check_p(double p, const char* what) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("{}: p must be in [0, 1], got {}", what, p));
}
// out = a · mask · scale elementwise.
Tensor masked_scale(const Tensor& a, const Tensor& mask, double scale) {
  Tensor out = empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = a.data<T>();
    const uint8_t* pm = mask.data<uint8_t>();
    T* po = out.data<T>();
    const T s = static_cast<T>(scale);
    const int64_t n = a.numel();
#pragma omp parallel for simd if (n > 32768)
    for (int64_t i = 0; i < n; ++i) po[i] = pm[i] ? pa[i] * s : T(0);
  });
  return out;
}
}  // namespace

Tensor bernoulli_mask(const Shape& shape, double keep, Generator& gen) {
  Tensor m = empty(shape, DType::U8);
  uint8_t* p = m.data<uint8_t>();
  // Compare 53-bit uniforms with keep: exact probability, one generator draw per element.
  for (int64_t i = 0; i < m.numel(); ++i) p[i] = gen.uniform() < keep ? 1 : 0;
  return m;
}

Tensor dropout(const Tensor& x, double p, const Tensor& mask) {
  check_p(p, "dropout");
  if (mask.dtype() != DType::U8 || mask.shape() != x.shape())
    throw Error(fmt::format("dropout: mask must be uint8 of the input's shape {}, got {} {}", x.shape_str(),
                            dtype_name(mask.dtype()), mask.shape_str()));
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;  // p = 1 drops everything (torch: zeros)
  Tensor y = masked_scale(x, mask, scale);
  return record(Op::Dropout, y, {x}, [mask, scale](const Tensor& g) {
    return Grads{masked_scale(g, mask, scale)};  // dy/dx = mask / (1 - p)
  });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_p(p, "dropout");
  if (!training || p == 0.0) return x;
  return dropout(x, p, bernoulli_mask(x.shape(), 1.0 - p, gen));
}

}  // namespace descent::ops
