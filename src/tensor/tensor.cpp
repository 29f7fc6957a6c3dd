// Tensor handle: accessors, creation, in-place updates and printing. Differentiable members
// (clone, to, reshape, t, backward) live with the ops and the engine.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>

#include "tensor/allocator.h"
#include "tensor/dispatch.h"
#include "tensor/impl.h"

namespace descent {

Storage::Storage(size_t n) : ptr(alloc::allocate(n)), bytes(n) {}
Storage::~Storage() { alloc::release(ptr, bytes); }

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->numel = shape_numel(shape);
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(impl->numel) * dtype_size(dtype));
  return impl;
}

Tensor::Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw Error("use of an undefined tensor");
  return *p;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
int64_t Tensor::dim() const { return static_cast<int64_t>(shape().size()); }
int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  int64_t i = d < 0 ? d + n : d;
  if (i < 0 || i >= n) throw Error(fmt::format("dimension {} out of range for shape {}", d, shape_str()));
  return shape()[static_cast<size_t>(i)];
}
int64_t Tensor::numel() const { return checked(impl_).numel; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
std::string Tensor::shape_str() const { return descent::shape_str(shape()); }
void* Tensor::raw_data() { return checked(impl_).storage->ptr; }
const void* Tensor::raw_data() const { return checked(impl_).storage->ptr; }

template <class T>
T* Tensor::data() {
  if (dtype() != dtype_of<std::remove_const_t<T>>())
    throw Error(fmt::format("data<T>(): tensor is {}", dtype_name(dtype())));
  return static_cast<T*>(raw_data());
}
template <class T>
const T* Tensor::data() const {
  if (dtype() != dtype_of<std::remove_const_t<T>>())
    throw Error(fmt::format("data<T>(): tensor is {}", dtype_name(dtype())));
  return static_cast<const T*>(raw_data());
}
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template int64_t* Tensor::data<int64_t>();
template uint8_t* Tensor::data<uint8_t>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const int64_t* Tensor::data<int64_t>() const;
template const uint8_t* Tensor::data<uint8_t>() const;

namespace {
double element(const Tensor& t, int64_t i) {
  return dispatch_all(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    return static_cast<double>(static_cast<const T*>(t.raw_data())[i]);
  });
}
}  // namespace

double Tensor::item() const {
  if (numel() != 1) throw Error(fmt::format("item(): tensor of shape {} has {} elements, not 1", shape_str(), numel()));
  return element(*this, 0);
}

double Tensor::at(const std::vector<int64_t>& index) const {
  if (static_cast<int64_t>(index.size()) != dim())
    throw Error(fmt::format("at(): index of {} dims for shape {}", index.size(), shape_str()));
  int64_t flat = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    if (index[d] < 0 || index[d] >= shape()[d])
      throw Error(fmt::format("at(): index {} out of range in dim {} of shape {}", index[d], d, shape_str()));
    flat = flat * shape()[d] + index[d];
  }
  return element(*this, flat);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> v(static_cast<size_t>(numel()));
  dispatch_all(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(raw_data());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  });
  return v;
}

bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }
Tensor& Tensor::requires_grad_(bool on) {
  checked(impl_);
  if (impl_->grad_fn) throw Error("requires_grad_(): only leaf tensors can be marked; use detach() first");
  if (on && !is_floating(impl_->dtype))
    throw Error(fmt::format("requires_grad_(): gradients need a floating tensor, got {}", dtype_name(impl_->dtype)));
  impl_->requires_grad = on;
  return *this;
}
Tensor Tensor::grad() const { return Tensor(checked(impl_).grad); }
void Tensor::set_grad(const Tensor& g) const {
  checked(impl_);
  impl_->grad = g.impl();
}
bool Tensor::is_leaf() const { return checked(impl_).grad_fn == nullptr; }

Tensor Tensor::detach() const {
  const TensorImpl& src = checked(impl_);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage;
  impl->shape = src.shape;
  impl->numel = src.numel;
  impl->dtype = src.dtype;
  return Tensor(impl);
}

Tensor& Tensor::fill_(double v) {
  dispatch_all(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(raw_data());
    const T x = static_cast<T>(v);
    for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = x;
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  if (src.numel() != numel())
    throw Error(fmt::format("copy_(): {} elements into {} elements", src.numel(), numel()));
  if (src.dtype() == dtype()) {
    std::memcpy(raw_data(), src.raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype()));
    return *this;
  }
  dispatch_all(dtype(), [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_all(src.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      D* d = static_cast<D*>(raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      for (int64_t i = 0, n = numel(); i < n; ++i) d[i] = static_cast<D>(s[i]);
    });
  });
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  if (other.shape() != shape())
    throw Error(fmt::format("add_(): shape {} into {}", other.shape_str(), shape_str()));
  if (other.dtype() != dtype())
    throw Error(fmt::format("add_(): dtype {} into {}", dtype_name(other.dtype()), dtype_name(dtype())));
  dispatch_float(dtype(), "add_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = static_cast<T*>(raw_data());
    const T* s = static_cast<const T*>(other.raw_data());
    const T a = static_cast<T>(alpha);
    const int64_t n = numel();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] += a * s[i];
  });
  return *this;
}

Tensor& Tensor::mul_(double s) {
  dispatch_float(dtype(), "mul_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = static_cast<T*>(raw_data());
    const T a = static_cast<T>(s);
    for (int64_t i = 0, n = numel(); i < n; ++i) d[i] *= a;
  });
  return *this;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << dtype_name(dtype()) << ", " << shape_str();
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  constexpr int64_t kMaxShown = 64;
  std::vector<double> v = to_vector();
  os << " {";
  for (int64_t i = 0; i < numel() && i < kMaxShown; ++i) os << (i ? ", " : "") << fmt::format("{:.6g}", v[static_cast<size_t>(i)]);
  if (numel() > kMaxShown) os << ", ...";
  os << "}";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- creation ------------------------------------------------------------------------------
Tensor empty(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype)); }
Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor full(const Shape& shape, double value, DType dtype) { return empty(shape, dtype).fill_(value); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor scalar(double v, DType dtype) { return full({}, v, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0.0) throw Error("arange(): step must not be 0");
  double span = (end - start) / step;
  int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}
Tensor arange(int64_t n, DType dtype) { return arange(0.0, static_cast<double>(n), 1.0, dtype); }

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    const T lo = static_cast<T>(low), hi = static_cast<T>(high);
    for (int64_t i = 0, n = t.numel(); i < n; ++i) {
      // Rounding to T can reach `high` for u close to 1; keep the documented [low, high).
      const T v = static_cast<T>(low + (high - low) * gen.uniform());
      p[i] = v < hi ? v : std::nextafter(hi, lo);
    }
  });
  return t;
}

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(mean + std * gen.normal());
  });
  return t;
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw Error(fmt::format("from_vector(): {} values for shape {}", values.size(), descent::shape_str(shape)));
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}

}  // namespace descent
