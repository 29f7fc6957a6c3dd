// Internal: a recorded op in the graph, and `record`, which every differentiable op calls.
//
// An op computes its output with a kernel, then records a backward lambda that returns one
// gradient per input (the local derivative times the incoming gradient g). The lambda captures
// detached tensors only, so the graph holds no reference cycles. It may take (g) or (g, need):
// `need[i]` says whether input i wants a gradient, so an op can skip work (matmul skips dX for
// the data batch); an entry it leaves undefined for a needed input is an error
// ("not implemented: op/input"), never a silent zero.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

#include "descent/autograd.h"
#include "tensor/impl.h"

namespace descent::autograd {

using Grads = std::vector<Tensor>;
using Need = std::vector<bool>;
using BackwardFn = std::function<Grads(const Tensor& g, const Need& need)>;

struct Edge {
  std::shared_ptr<Node> node;          // producer of the input, when it is not a leaf
  std::shared_ptr<TensorImpl> leaf;    // the input itself, when it is a leaf that requires grad
  Shape shape;                         // input shape, to undo broadcasting
  bool need = false;
};

struct Node {
  Op op = Op::Count;
  std::vector<Edge> inputs;
  BackwardFn backward;                 // released after use (graph is single-use)
  std::weak_ptr<TensorImpl> retained;  // output whose .grad is kept (retain_grad); weak: no cycle

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Releases the chain of producers this node alone keeps alive iteratively: the default
  /// destructor would recurse once per node and overflow the stack on long graphs.
  ~Node();
};

/// Attaches a node to y when grad mode is on and some input requires grad; returns y.
Tensor record_node(Op op, Tensor y, std::initializer_list<Tensor> inputs, BackwardFn fn);
Tensor record_node(Op op, Tensor y, const std::vector<Tensor>& inputs, BackwardFn fn);

/// True when recording would happen for these inputs (lets ops skip saving tensors).
bool should_record(std::initializer_list<Tensor> inputs);

template <class F>
BackwardFn wrap_backward(F&& f) {
  if constexpr (std::is_invocable_v<F, const Tensor&, const Need&>) {
    return BackwardFn(std::forward<F>(f));
  } else {
    return [f = std::forward<F>(f)](const Tensor& g, const Need&) { return f(g); };
  }
}

template <class F>
Tensor record(Op op, Tensor y, std::initializer_list<Tensor> inputs, F&& f) {
  if (!should_record(inputs)) return y;
  return record_node(op, std::move(y), inputs, wrap_backward(std::forward<F>(f)));
}

template <class F>
Tensor record(Op op, Tensor y, const std::vector<Tensor>& inputs, F&& f) {
  bool any = false;
  for (const auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any || !grad_enabled()) return y;
  return record_node(op, std::move(y), inputs, wrap_backward(std::forward<F>(f)));
}

}  // namespace descent::autograd
