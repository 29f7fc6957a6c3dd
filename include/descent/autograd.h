// descent/autograd.h — define-by-run reverse-mode differentiation.
//
// Every differentiable op in descent/ops.h records a node when one of its inputs requires a
// gradient. `loss.backward()` walks the recorded graph once, in reverse topological order,
// iteratively (no recursion limit): gradients reaching a tensor along several edges are added,
// broadcasting is undone once here (each gradient is summed to its input's shape), and leaf
// gradients accumulate with +=.
//
//   auto w = descent::ones({3}, descent::DType::F64).requires_grad_();
//   auto loss = descent::ops::sum(w * w);
//   loss.backward();                       // w.grad() == 2 * w
//   { descent::NoGradGuard off; auto y = w * 2.0; }   // y records nothing
#pragma once
#include <cstdint>
#include <functional>

#include "descent/tensor.h"

namespace descent {

/// Every primitive differentiable op. Name table in src/autograd/op_names.cpp is guarded by a
/// static_assert on Count; the gradcheck test fails when an op here has no test row.
enum class Op : uint16_t {
  Add, Sub, Mul, Div, Neg, PowScalar, Exp, Log, Sqrt, Abs, Clamp,
  Sigmoid, Tanh, Relu, LeakyRelu, Elu, Gelu, Selu, Softplus,
  Matmul, Linear, Sum, SumDim, MaxAll, MaxDim,
  Reshape, Transpose, IndexSelect, Concat, Cast, Clone,
  Softmax, LogSoftmax, CrossEntropy, NllLoss,
  Conv2d, MaxPool2d, AvgPool2d, BatchNorm, LayerNorm, Dropout, BceWithLogits, HuberLoss,
  LinearRelu, Conv2dRelu, MaxPool2dRelu, Conv2dPoolRelu,
  Count
};

/// The op's name as users know it ("matmul", "log_softmax", ...).
const char* op_name(Op op);

/// True while operations record the graph (thread-local, default true).
bool grad_enabled();

/// Turns graph recording off for its scope (evaluation, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Backpropagates `grad` (same shape as root) from root into the leaves' .grad().
void backward(const Tensor& root, const Tensor& grad);

/// Called during backward() with a leaf whose .grad() got its last contribution of the pass.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
/// Installs the calling thread's hook (empty: none) and returns the previous one. Data-parallel
/// training uses it to start a gradient bucket's all-reduce while the rest of backward runs.
GradReadyHook set_grad_ready_hook(GradReadyHook hook);

}  // namespace descent
