// descent/tensor.h — the n-dimensional array every other part of descent works on.
//
// A Tensor is a handle (cheap to copy, shared) to row-major contiguous storage with a shape and
// a runtime dtype (F32, F64, I64, U8). Precision is chosen at run time, never by a build flag:
// gradient checks need float64 of every op. Memory comes from a caching allocator, so a training
// step in steady state asks the operating system for nothing.
//
// Differentiable functions on tensors live in descent/ops.h; autograd state (requires_grad,
// grad, backward) is carried here because every tensor may take part in a graph.
//
//   descent::Generator gen(0);
//   auto w = descent::normal({256, 784}, 0.0, 0.05, gen).requires_grad_();
//   auto x = descent::zeros({128, 784});
//   std::cout << descent::ops::matmul(x, w.t()).shape_str() << "\n";   // [128, 256]
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "descent/error.h"

namespace descent {

/// Element type of a tensor, chosen at run time.
enum class DType : uint8_t { F32, F64, I64, U8, Count };

/// A tensor's shape: one extent per dimension (empty = 0-d scalar).
using Shape = std::vector<int64_t>;

/// Bytes per element of a dtype.
size_t dtype_size(DType d);
/// "float32", "float64", "int64", "uint8".
const char* dtype_name(DType d);
/// Parses "float32"/"f32", "float64"/"f64"/"double", "int64", "uint8"; throws descent::Error.
DType dtype_from_name(const std::string& name);
/// True for F32 and F64.
bool is_floating(DType d);
/// "[2, 3]".
std::string shape_str(const Shape& s);
/// Product of the extents (1 for a 0-d shape).
int64_t shape_numel(const Shape& s);

/// Seeded random stream (xoshiro256**): explicit, copyable, and its state can be saved exactly.
class Generator {
 public:
  /// Seeds the four state words from `seed` through splitmix64.
  explicit Generator(uint64_t seed = 0);
  /// Next 64 random bits.
  uint64_t next_u64();
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// Standard normal (Box-Muller; the second value is kept for the next call).
  double normal();
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  /// The whole state (4 words, the cached normal and its flag) for checkpoints.
  std::vector<uint64_t> state() const;
  /// Restores a state from state(); throws descent::Error on a wrong length.
  void set_state(const std::vector<uint64_t>& s);

 private:
  uint64_t s_[4];
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

struct TensorImpl;

/// Shared handle to a tensor; a default-constructed Tensor is "undefined".
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl);

  /// False for a default-constructed handle.
  bool defined() const { return impl_ != nullptr; }
  /// Extents per dimension.
  const Shape& shape() const;
  /// Number of dimensions.
  int64_t dim() const;
  /// Extent of dimension d (negative d counts from the end).
  int64_t size(int64_t d) const;
  /// Number of elements.
  int64_t numel() const;
  /// Element type.
  DType dtype() const;
  /// "[2, 3]".
  std::string shape_str() const;

  /// Typed pointer to the first element; throws if T does not match the dtype.
  template <class T> T* data();
  /// Typed pointer to the first element; throws if T does not match the dtype.
  template <class T> const T* data() const;
  /// Untyped pointer to the first element.
  void* raw_data();
  /// Untyped pointer to the first element.
  const void* raw_data() const;

  /// The value of a one-element tensor as double.
  double item() const;
  /// The element at a full index, as double (for tests and printing).
  double at(const std::vector<int64_t>& index) const;
  /// All elements converted to double, in row-major order.
  std::vector<double> to_vector() const;

  // ---- autograd state -------------------------------------------------------------------
  /// True when gradients are tracked for this tensor.
  bool requires_grad() const;
  /// Marks a leaf as requiring gradients (floating dtypes only); returns *this.
  Tensor& requires_grad_(bool on = true);
  /// Accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  /// Replaces the accumulated gradient (undefined clears it).
  void set_grad(const Tensor& g) const;
  /// True for tensors not produced by a recorded op.
  bool is_leaf() const;
  /// Backpropagates from a one-element tensor (gradient 1).
  void backward() const;
  /// Backpropagates with an explicit gradient of this tensor's shape.
  void backward(const Tensor& grad) const;
  /// Keeps .grad() of a non-leaf tensor after backward (for monitors and diagnostics).
  void retain_grad() const;
  /// The same storage without graph history and without requires_grad.
  Tensor detach() const;

  // ---- copies and views (reshape/t/to are differentiable; see ops.h for the rest) -------
  /// A new tensor with the same values (differentiable).
  Tensor clone() const;
  /// The same values converted to another dtype (differentiable between float types).
  Tensor to(DType d) const;
  /// Same data, new shape with equal numel; one extent may be -1 (differentiable).
  Tensor reshape(const Shape& s) const;
  /// Transpose of a 2-d tensor (a copy; differentiable).
  Tensor t() const;

  // ---- in-place, outside autograd (optimizers, initializers) -----------------------------
  /// Sets every element to v.
  Tensor& fill_(double v);
  /// Copies the values of src (same numel; converts dtype).
  Tensor& copy_(const Tensor& src);
  /// this += alpha * other (same shape).
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  /// this *= s.
  Tensor& mul_(double s);

  /// Printable form: dtype, shape and (up to a limit) the values.
  std::string str() const;
  /// The shared implementation (for the engine and kernels).
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  /// True when both handles refer to the same tensor.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// Prints t.str().
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation -------------------------------------------------------------------------------
/// Uninitialised tensor from the caching allocator.
Tensor empty(const Shape& shape, DType dtype = DType::F32);
/// All zeros.
Tensor zeros(const Shape& shape, DType dtype = DType::F32);
/// All ones.
Tensor ones(const Shape& shape, DType dtype = DType::F32);
/// All `value`.
Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
/// Zeros shaped like t.
Tensor zeros_like(const Tensor& t);
/// 0-d tensor holding v.
Tensor scalar(double v, DType dtype = DType::F32);
/// [start, start+step, ...) below end.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::F32);
/// 0, 1, ..., n-1.
Tensor arange(int64_t n, DType dtype = DType::I64);
/// Uniform on [low, high) from gen.
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype = DType::F32);
/// Normal(mean, std) from gen.
Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype = DType::F32);
/// Tensor holding `values` (row-major) with the given shape.
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::F32);

}  // namespace descent
