// Shape ops: reshape (shares storage), transpose (copies), flatten, index_select, concat,
// dtype casts and copies — and the Tensor members that forward to them.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::record;

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw Error(fmt::format("reshape: more than one -1 in {}", shape_str(shape)));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known != 0 && x.numel() % known == 0) s[infer] = x.numel() / known;
  // A -1 left uninferred or another negative extent is this reshape's error, not shape_numel's.
  const bool valid = std::all_of(s.begin(), s.end(), [](int64_t e) { return e >= 0; });
  if (!valid || shape_numel(s) != x.numel())
    throw Error(fmt::format("reshape: cannot view {} ({} elements) as {}", x.shape_str(), x.numel(), shape_str(shape)));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->shape = s;
  impl->numel = x.numel();
  impl->dtype = x.dtype();
  Tensor y(impl);
  return record(Op::Reshape, y, {x}, [in = x.shape()](const Tensor& g) {
    return Grads{g.reshape(in)};                                 // same values, old shape
  });
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  int64_t d = norm_dim(start_dim, x.dim(), "flatten");
  Shape s(x.shape().begin(), x.shape().begin() + d);
  int64_t rest = 1;
  for (int64_t i = d; i < x.dim(); ++i) rest *= x.size(i);
  s.push_back(rest);
  return reshape(x, s);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t nd = x.dim();
  int64_t a = norm_dim(dim0, nd, "transpose"), b = norm_dim(dim1, nd, "transpose");
  Shape s = x.shape();
  if (a != b) std::swap(s[a], s[b]);  // a == b (also dim 0 of a 0-d tensor) is a copy
  Tensor y = empty(s, x.dtype());
  // Source strides, permuted into the output's dim order.
  std::vector<int64_t> st(nd, 1);
  for (int64_t i = nd - 2; i >= 0; --i) st[i] = st[i + 1] * x.size(i + 1);
  if (a != b) std::swap(st[a], st[b]);
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(x.raw_data());
    T* q = static_cast<T*>(y.raw_data());
    if (nd == 2 && a != b) {
      const int64_t r = s[0], c = s[1];
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j) q[i * c + j] = p[j * r + i];
      return;
    }
    for (int64_t i = 0, n = y.numel(); i < n; ++i) {
      int64_t rem = i, src = 0;
      for (int64_t d = nd - 1; d >= 0; --d) {
        src += (rem % s[d]) * st[d];
        rem /= s[d];
      }
      q[i] = p[src];
    }
  });
  return record(Op::Transpose, y, {x}, [a, b](const Tensor& g) {
    return Grads{transpose(g, a, b)};                            // transpose back
  });
}

Tensor index_select(const Tensor& x, const Tensor& index) {
  if (index.dtype() != DType::I64 || index.dim() != 1)
    throw Error(fmt::format("index_select: index must be int64 [K], got {} {}", dtype_name(index.dtype()), index.shape_str()));
  if (x.dim() < 1) throw Error("index_select: needs at least 1 dim");
  const int64_t rows = x.size(0), row = rows == 0 ? 0 : x.numel() / rows, k = index.numel();
  Shape s = x.shape();
  s[0] = k;
  Tensor y = empty(s, x.dtype());
  const int64_t* ix = index.data<int64_t>();
  const size_t bytes = static_cast<size_t>(row) * dtype_size(x.dtype());
  for (int64_t i = 0; i < k; ++i) {
    if (ix[i] < 0 || ix[i] >= rows)
      throw Error(fmt::format("index_select: index {} out of range for {} rows", ix[i], rows));
    std::memcpy(static_cast<char*>(y.raw_data()) + i * bytes, static_cast<const char*>(x.raw_data()) + ix[i] * bytes, bytes);
  }
  return record(Op::IndexSelect, y, {x}, [shape = x.shape(), index, row](const Tensor& g) {
    Tensor gx = zeros(shape, g.dtype());                         // scatter-add rows back
    dispatch_float(g.dtype(), "index_select", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pg = g.data<T>();
      T* px = gx.data<T>();
      const int64_t* ix = index.data<int64_t>();
      for (int64_t i = 0; i < index.numel(); ++i)
        for (int64_t j = 0; j < row; ++j) px[ix[i] * row + j] += pg[i * row + j];
    });
    return Grads{gx};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw Error("concat: no tensors");
  const Shape& s0 = xs[0].shape();
  if (s0.empty()) throw Error("concat: zero-dim tensors cannot be concatenated");
  int64_t d = norm_dim(dim, xs[0].dim(), "concat");
  Shape out = s0;
  out[d] = 0;
  for (const Tensor& t : xs) {
    check_same_dtype(xs[0], t, "concat");
    bool ok = t.dim() == xs[0].dim();
    for (int64_t i = 0; ok && i < t.dim(); ++i) ok = i == d || t.size(i) == s0[i];
    if (!ok) throw Error(fmt::format("concat: shape {} does not match {} outside dim {}", t.shape_str(), shape_str(s0), d));
    out[d] += t.size(d);
  }
  Tensor y = empty(out, xs[0].dtype());
  int64_t outer = 1;
  for (int64_t i = 0; i < d; ++i) outer *= out[i];
  const size_t esz = dtype_size(y.dtype());
  const int64_t out_row = y.numel() / std::max<int64_t>(outer, 1);
  int64_t offset = 0;
  std::vector<int64_t> widths;
  for (const Tensor& t : xs) {
    const int64_t w = outer == 0 ? 0 : t.numel() / outer;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(y.raw_data()) + (o * out_row + offset) * esz,
                  static_cast<const char*>(t.raw_data()) + o * w * esz, static_cast<size_t>(w) * esz);
    offset += w;
    widths.push_back(w);
  }
  std::vector<Shape> shapes;
  for (const Tensor& t : xs) shapes.push_back(t.shape());
  return record(Op::Concat, y, xs, [shapes, widths, outer, out_row](const Tensor& g) {
    Grads gs;                                                    // each input gets its slice of g
    int64_t off = 0;
    const size_t esz = dtype_size(g.dtype());
    for (size_t k = 0; k < shapes.size(); ++k) {
      Tensor gk = empty(shapes[k], g.dtype());
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(static_cast<char*>(gk.raw_data()) + o * widths[k] * esz,
                    static_cast<const char*>(g.raw_data()) + (o * out_row + off) * esz, static_cast<size_t>(widths[k]) * esz);
      off += widths[k];
      gs.push_back(gk);
    }
    return gs;
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  Tensor y = empty(x.shape(), dtype);
  y.copy_(x);
  if (!is_floating(dtype)) return y;
  return record(Op::Cast, y, {x}, [from = x.dtype()](const Tensor& g) {
    return Grads{cast(g, from)};                                 // identity, converted back
  });
}

Tensor clone(const Tensor& x) {
  Tensor y = empty(x.shape(), x.dtype());
  y.copy_(x);
  return record(Op::Clone, y, {x}, [](const Tensor& g) {
    return Grads{g};                                             // identity
  });
}

}  // namespace descent::ops

namespace descent {
Tensor Tensor::clone() const { return ops::clone(*this); }
Tensor Tensor::to(DType d) const { return d == dtype() ? *this : ops::cast(*this, d); }
Tensor Tensor::reshape(const Shape& s) const { return ops::reshape(*this, s); }
Tensor Tensor::t() const {
  if (dim() != 2) throw Error(fmt::format("t(): needs a 2-d tensor, got {}", shape_str()));
  return ops::transpose(*this, 0, 1);
}
}  // namespace descent
