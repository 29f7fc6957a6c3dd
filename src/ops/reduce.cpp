// Reductions: sum, mean, max (all or one dim), argmax, and sum_to (undoing broadcasting).
#include <fmt/format.h>

#include <limits>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::record;

namespace {
struct Split {
  int64_t outer, n, inner;
};
Split split_at(const Shape& s, int64_t d) {
  Split r{1, s.empty() ? 1 : s[d], 1};
  for (int64_t i = 0; i < d; ++i) r.outer *= s[i];
  for (size_t i = d + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}
Shape reduced_shape(const Shape& s, int64_t d, bool keepdim) {
  if (s.empty()) return {};
  Shape r = s;
  if (keepdim) r[d] = 1;
  else r.erase(r.begin() + d);
  return r;
}
// Repeats g (shape with dim d reduced, kept) n times along d: the backward of a sum over d.
Tensor expand_along(const Tensor& g, const Shape& full_shape, int64_t d) {
  Tensor out = empty(full_shape, g.dtype());
  Split sp = split_at(full_shape, d);
  dispatch_float(g.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < sp.outer; ++o)
      for (int64_t j = 0; j < sp.n; ++j) std::copy(pg + o * sp.inner, pg + (o + 1) * sp.inner, po + (o * sp.n + j) * sp.inner);
  });
  return out;
}
}  // namespace

Tensor sum(const Tensor& x) {
  Tensor y = empty({}, x.dtype());
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = x.data<T>();
    double acc = 0.0;  // accumulate in double: a float32 sum of 1e6 terms would lose digits
    const int64_t n = x.numel();
#pragma omp parallel for reduction(+ : acc) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) acc += p[i];
    *y.data<T>() = static_cast<T>(acc);
  });
  return record(Op::Sum, y, {x}, [shape = x.shape()](const Tensor& g) {
    return Grads{full(shape, g.item(), g.dtype())};              // d Σx/dx_i = 1
  });
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = norm_dim(dim, x.dim(), "sum");
  Split sp = split_at(x.shape(), d);
  Tensor y = empty(reduced_shape(x.shape(), d, keepdim), x.dtype());
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = x.data<T>();
    T* q = y.data<T>();
#pragma omp parallel for if (x.numel() > 65536 && sp.outer > 1)
    for (int64_t o = 0; o < sp.outer; ++o) {
      T* qo = q + o * sp.inner;
      std::fill(qo, qo + sp.inner, T(0));
      for (int64_t j = 0; j < sp.n; ++j) {
        const T* row = p + (o * sp.n + j) * sp.inner;
#pragma omp simd
        for (int64_t i = 0; i < sp.inner; ++i) qo[i] += row[i];
      }
    }
  });
  return record(Op::SumDim, y, {x}, [shape = x.shape(), d](const Tensor& g) {
    return Grads{expand_along(g, shape, d)};                     // each x_i gets the g of its slice
  });
}

Tensor mean(const Tensor& x) {
  if (x.numel() == 0) throw Error("mean: empty tensor");
  return sum(x) * (1.0 / static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = norm_dim(dim, x.dim(), "mean");
  return sum(x, d, keepdim) * (1.0 / static_cast<double>(x.dim() == 0 ? 1 : x.size(d)));
}

Tensor max(const Tensor& x) {
  if (x.numel() == 0) throw Error("max: empty tensor");
  int64_t best = 0;
  Tensor y = empty({}, x.dtype());
  dispatch_float(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = x.data<T>();
    for (int64_t i = 1; i < x.numel(); ++i)
      if (p[i] > p[best]) best = i;
    *y.data<T>() = p[best];
  });
  return record(Op::MaxAll, y, {x}, [shape = x.shape(), best](const Tensor& g) {
    Tensor gx = zeros(shape, g.dtype());                         // gradient to the first arg-max only
    dispatch_float(g.dtype(), "max", [&](auto tag) {
      using T = typename decltype(tag)::type;
      gx.data<T>()[best] = *g.data<T>();
    });
    return Grads{gx};
  });
}

namespace {
// Values and first arg-max indices over dim d.
std::pair<Tensor, Tensor> max_with_index(const Tensor& x, int64_t d, bool keepdim, const char* what) {
  Split sp = split_at(x.shape(), d);
  if (sp.n == 0) throw Error(fmt::format("{}: reducing an empty dim of shape {}", what, x.shape_str()));
  Shape rs = reduced_shape(x.shape(), d, keepdim);
  Tensor idx = empty(rs, DType::I64);
  Tensor val = empty(rs, x.dtype());
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(x.raw_data());
    T* v = static_cast<T*>(val.raw_data());
    int64_t* ix = idx.data<int64_t>();
    for (int64_t o = 0; o < sp.outer; ++o)
      for (int64_t i = 0; i < sp.inner; ++i) {
        const T* base = p + o * sp.n * sp.inner + i;
        int64_t b = 0;
        for (int64_t j = 1; j < sp.n; ++j)
          if (base[j * sp.inner] > base[b * sp.inner]) b = j;
        ix[o * sp.inner + i] = b;
        v[o * sp.inner + i] = base[b * sp.inner];
      }
  });
  return {val, idx};
}
}  // namespace

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = norm_dim(dim, x.dim(), "max");
  auto [y, idx] = max_with_index(x, d, keepdim, "max");
  return record(Op::MaxDim, y, {x}, [shape = x.shape(), d, idx](const Tensor& g) {
    Tensor gx = zeros(shape, g.dtype());                         // g goes to the first arg-max
    Split sp = split_at(shape, d);
    dispatch_float(g.dtype(), "max", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pg = g.data<T>();
      const int64_t* ix = idx.data<int64_t>();
      T* px = gx.data<T>();
      for (int64_t o = 0; o < sp.outer; ++o)
        for (int64_t i = 0; i < sp.inner; ++i)
          px[(o * sp.n + ix[o * sp.inner + i]) * sp.inner + i] = pg[o * sp.inner + i];
    });
    return Grads{gx};
  });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = norm_dim(dim, x.dim(), "argmax");
  return max_with_index(x, d, keepdim, "argmax").second;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  if (shape_numel(shape) == 1) return sum(g).reshape(shape);
  const Shape& gs = g.shape();
  if (shape.size() > gs.size())
    throw Error(fmt::format("sum_to: cannot reduce {} to {}", shape_str(gs), shape_str(shape)));
  // Strides of the target seen from g's dims (0 where the target was broadcast).
  const size_t nd = gs.size(), off = nd - shape.size();
  std::vector<int64_t> st(nd, 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && shape[i] != gs[i + off])
      throw Error(fmt::format("sum_to: cannot reduce {} to {}", shape_str(gs), shape_str(shape)));
    st[i + off] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  Tensor out = zeros(shape, g.dtype());
  dispatch_float(g.dtype(), "sum_to", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    const int64_t inner = gs[nd - 1], is = st[nd - 1];
    const int64_t outer = inner == 0 ? 0 : g.numel() / inner;
    for (int64_t o = 0; o < outer; ++o) {
      int64_t rem = o, base = 0;
      for (size_t d = nd - 1; d-- > 0;) {
        base += (rem % gs[d]) * st[d];
        rem /= gs[d];
      }
      const T* row = pg + o * inner;
      if (is == 0) {
        T acc = 0;
        for (int64_t j = 0; j < inner; ++j) acc += row[j];
        po[base] += acc;
      } else {
        for (int64_t j = 0; j < inner; ++j) po[base + j * is] += row[j];
      }
    }
  });
  return out;
}

}  // namespace descent::ops
