// Internal: what a Tensor handle points to. Storage is shared between a tensor and its
// reshapes; autograd state (grad_fn, grad) is per tensor.
#pragma once
#include <memory>

#include "descent/tensor.h"

namespace descent {

namespace autograd {
struct Node;
}

/// A block from the caching allocator; returned to it when the last user goes.
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit Storage(size_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::F32;
  bool requires_grad = false;                 // leaf flag, or "some input needs grad" for op outputs
  std::shared_ptr<autograd::Node> grad_fn;    // null for leaves
  std::shared_ptr<TensorImpl> grad;           // accumulated gradient of a leaf
};

/// Allocates a fresh impl (storage from the caching allocator, contents undefined).
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype);

}  // namespace descent
