// Elementwise binary ops with NumPy broadcasting, their backwards, and comparisons.
#include <fmt/format.h>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::Need;
using autograd::record;

Shape broadcast_shape(const Shape& a, const Shape& b, const char* what) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(fmt::format("{}: shapes {} and {} cannot be broadcast", what, shape_str(a), shape_str(b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* what) {
  if (a.dtype() != b.dtype())
    throw Error(fmt::format("{}: dtype mismatch {} vs {}", what, dtype_name(a.dtype()), dtype_name(b.dtype())));
}

int64_t norm_dim(int64_t dim, int64_t ndim, const char* what) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor takes dim 0 or -1, as in torch
  int64_t d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n)
    throw Error(fmt::format("{}: dim {} out of range for {} dims", what, dim, ndim));
  return d;
}

namespace {

// Strides of `s` seen from the broadcast shape `out` (0 where s is broadcast).
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = s.size(); i-- > 0;) {
    size_t o = i + (out.size() - s.size());
    st[o] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return st;
}

// z = f(a, b) over the broadcast shape. Fast paths for equal shapes and scalar operands; the
// general case walks the outer index with a counter and runs the innermost dim as a loop.
template <class T, class R, class F>
void broadcast_apply(const Tensor& a, const Tensor& b, Tensor& z, F f) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  R* pz = static_cast<R*>(z.raw_data());
  const int64_t n = z.numel();
  if (a.shape() == b.shape()) {
#pragma omp parallel for simd if (n > 32768)
    for (int64_t i = 0; i < n; ++i) pz[i] = f(pa[i], pb[i]);
    return;
  }
  if (b.numel() == 1 && a.numel() == n) {
    const T vb = pb[0];
#pragma omp parallel for simd if (n > 32768)
    for (int64_t i = 0; i < n; ++i) pz[i] = f(pa[i], vb);
    return;
  }
  if (a.numel() == 1 && b.numel() == n) {
    const T va = pa[0];
#pragma omp parallel for simd if (n > 32768)
    for (int64_t i = 0; i < n; ++i) pz[i] = f(va, pb[i]);
    return;
  }
  const Shape& out = z.shape();
  const size_t nd = out.size();
  auto sa = broadcast_strides(a.shape(), out);
  auto sb = broadcast_strides(b.shape(), out);
  const int64_t inner = out[nd - 1];
  const int64_t ia = sa[nd - 1], ib = sb[nd - 1];
  const int64_t outer = inner == 0 ? 0 : n / inner;
#pragma omp parallel for if (n > 32768)
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rem = o, oa = 0, ob = 0;
    for (size_t d = nd - 1; d-- > 0;) {
      int64_t idx = rem % out[d];
      rem /= out[d];
      oa += idx * sa[d];
      ob += idx * sb[d];
    }
    R* zr = pz + o * inner;
    for (int64_t j = 0; j < inner; ++j) zr[j] = f(pa[oa + j * ia], pb[ob + j * ib]);
  }
}

template <class F>
Tensor binary_float(const Tensor& a, const Tensor& b, const char* what, F f) {
  check_same_dtype(a, b, what);
  Tensor z = empty(broadcast_shape(a.shape(), b.shape(), what), a.dtype());
  dispatch_float(a.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    broadcast_apply<T, T>(a, b, z, [&](T x, T y) { return f(x, y); });
  });
  return z;
}

template <class F>
Tensor compare(const Tensor& a, const Tensor& b, const char* what, F f) {
  check_same_dtype(a, b, what);
  Tensor z = empty(broadcast_shape(a.shape(), b.shape(), what), DType::U8);
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    broadcast_apply<T, uint8_t>(a, b, z, [&](T x, T y) { return static_cast<uint8_t>(f(x, y) ? 1 : 0); });
  });
  return z;
}


}  // namespace

Tensor add_nograd(const Tensor& a, const Tensor& b) {
  return binary_float(a, b, "add", [](auto x, auto y) { return x + y; });
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_float(a, b, "add", [](auto x, auto y) { return x + y; });
  return record(Op::Add, y, {a, b}, [](const Tensor& g) {
    return Grads{g, g};                                    // d(a+b)/da = d(a+b)/db = 1
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_float(a, b, "sub", [](auto x, auto y) { return x - y; });
  return record(Op::Sub, y, {a, b}, [](const Tensor& g, const Need& need) {
    return Grads{g, need[1] ? neg(g) : Tensor()};          // d/da = 1, d/db = -1
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_float(a, b, "mul", [](auto x, auto y) { return x * y; });
  return record(Op::Mul, y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const Need& need) {
    return Grads{need[0] ? g * b : Tensor(),               // d(ab)/da = b
                 need[1] ? g * a : Tensor()};              // d(ab)/db = a
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary_float(a, b, "div", [](auto x, auto y) { return x / y; });
  return record(Op::Div, y, {a, b}, [b = b.detach(), y = y.detach()](const Tensor& g, const Need& need) {
    return Grads{need[0] ? g / b : Tensor(),               // d(a/b)/da = 1/b
                 need[1] ? neg(g * y / b) : Tensor()};     // d(a/b)/db = -a/b^2 = -y/b
  });
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(a, b, "eq", [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(a, b, "ne", [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(a, b, "lt", [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(a, b, "le", [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(a, b, "gt", [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(a, b, "ge", [](auto x, auto y) { return x >= y; }); }

}  // namespace descent::ops

namespace descent {
Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::div(a, b); }
Tensor operator-(const Tensor& a) { return ops::neg(a); }
Tensor operator+(const Tensor& a, double b) { return ops::add(a, scalar(b, a.dtype())); }
Tensor operator+(double a, const Tensor& b) { return ops::add(scalar(a, b.dtype()), b); }
Tensor operator-(const Tensor& a, double b) { return ops::sub(a, scalar(b, a.dtype())); }
Tensor operator-(double a, const Tensor& b) { return ops::sub(scalar(a, b.dtype()), b); }
Tensor operator*(const Tensor& a, double b) { return ops::mul(a, scalar(b, a.dtype())); }
Tensor operator*(double a, const Tensor& b) { return ops::mul(scalar(a, b.dtype()), b); }
Tensor operator/(const Tensor& a, double b) { return ops::div(a, scalar(b, a.dtype())); }
Tensor operator/(double a, const Tensor& b) { return ops::div(scalar(a, b.dtype()), b); }
}  // namespace descent
