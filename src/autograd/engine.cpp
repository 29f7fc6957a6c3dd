// The backward engine: one pass over the recorded graph in reverse topological order.
//
// 1. Count, for every node reachable from the root, how many edges point at it (iterative DFS).
// 2. Process nodes whose count has dropped to zero (Kahn): call the backward lambda on the summed
//    incoming gradient, undo broadcasting per input, and pass each gradient on — to the producing
//    node (added to what it already has) or into the leaf's .grad (accumulated with +=).
#include <fmt/format.h>

#include <unordered_map>

#include "autograd/node.h"
#include "ops/internal.h"

namespace descent {
namespace {
thread_local bool g_grad_enabled = true;
thread_local GradReadyHook g_grad_ready;  // data-parallel training's bucket trigger (usually empty)
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

GradReadyHook set_grad_ready_hook(GradReadyHook hook) {
  std::swap(hook, g_grad_ready);
  return hook;
}

namespace autograd {

bool should_record(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
template <class Range>
Tensor attach(Op op, Tensor y, const Range& inputs, BackwardFn fn) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->backward = std::move(fn);
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.shape = t.shape();
      const auto& impl = t.impl();
      if (impl->grad_fn) {
        e.node = impl->grad_fn;
        e.need = true;
      } else if (impl->requires_grad) {
        e.leaf = impl;
        e.need = true;
      }
    }
    node->inputs.push_back(std::move(e));
  }
  y.impl()->grad_fn = std::move(node);
  y.impl()->requires_grad = true;
  return y;
}
}  // namespace

Tensor record_node(Op op, Tensor y, std::initializer_list<Tensor> inputs, BackwardFn fn) {
  return attach(op, std::move(y), inputs, std::move(fn));
}
Tensor record_node(Op op, Tensor y, const std::vector<Tensor>& inputs, BackwardFn fn) {
  return attach(op, std::move(y), inputs, std::move(fn));
}

Node::~Node() {
  // Producers whose last owner is this node (or a node released below) are moved onto a local
  // stack, so each one is destroyed with its own inputs already taken: recursion depth 1.
  std::vector<std::shared_ptr<Node>> doomed;
  auto take_inputs = [&doomed](std::vector<Edge>& edges) {
    for (Edge& e : edges)
      if (e.node && e.node.use_count() == 1) doomed.push_back(std::move(e.node));
  };
  take_inputs(inputs);
  while (!doomed.empty()) {
    std::shared_ptr<Node> n = std::move(doomed.back());
    doomed.pop_back();
    take_inputs(n->inputs);
  }
}

namespace {
// The first gradient to reach a leaf becomes its .grad. It is taken over without a copy (a
// memmove of every parameter per step) when nothing else can see it: this handle is the only one
// on its impl and no other impl shares its storage (a reshape or detach of it). Otherwise it is
// copied, because a later accumulation writes into .grad in place and g may be another edge's
// gradient, a node's pending sum, a retained .grad, or the caller's seed.
void accumulate_leaf(TensorImpl& leaf, Tensor&& g) {
  if (leaf.grad) {
    Tensor(leaf.grad).add_(g);
    return;
  }
  std::shared_ptr<TensorImpl> impl = g.impl();
  g = Tensor();
  const bool sole = impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->grad_fn &&
                    !impl->requires_grad && !impl->grad;
  leaf.grad = sole ? std::move(impl) : Tensor(std::move(impl)).clone().impl();
}
}  // namespace

}  // namespace autograd

void backward(const Tensor& root, const Tensor& grad) {
  using namespace autograd;
  if (!root.defined()) throw Error("backward(): undefined tensor");
  if (!is_floating(root.dtype()))
    throw Error(fmt::format("backward(): cannot differentiate a {} tensor", dtype_name(root.dtype())));
  if (!root.requires_grad())
    throw Error("backward(): tensor does not require grad (no input was marked requires_grad_())");
  if (grad.shape() != root.shape())
    throw Error(fmt::format("backward(): gradient shape {} does not match tensor shape {}", grad.shape_str(),
                            root.shape_str()));
  NoGradGuard no_grad;
  Tensor g0 = grad.dtype() == root.dtype() ? grad : grad.to(root.dtype());
  const auto& rimpl = root.impl();
  if (!rimpl->grad_fn) {
    accumulate_leaf(*rimpl, std::move(g0));  // copied when g0 is the caller's grad
    if (g_grad_ready) g_grad_ready(root);
    return;
  }

  // 1. dependency counts (of leaves too, only when a grad-ready hook wants to know when a
  //    leaf's gradient is final: counting them costs a map insert per leaf edge)
  std::unordered_map<Node*, int> deps;
  std::unordered_map<TensorImpl*, int> leaf_deps;
  const bool count_leaves = static_cast<bool>(g_grad_ready);
  std::vector<Node*> stack{rimpl->grad_fn.get()};
  deps[rimpl->grad_fn.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->inputs) {
      if (count_leaves && e.leaf && e.need) leaf_deps[e.leaf.get()]++;
      if (!e.node) continue;
      auto [it, inserted] = deps.try_emplace(e.node.get(), 0);
      it->second++;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  // 2. Kahn's order
  std::unordered_map<Node*, Tensor> pending;
  pending[rimpl->grad_fn.get()] = g0;
  std::vector<std::shared_ptr<Node>> ready{rimpl->grad_fn};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    Tensor g = std::move(pending[node.get()]);
    pending.erase(node.get());
    if (!node->backward)
      throw Error(fmt::format("backward(): the graph through '{}' was already used; run the forward again",
                              op_name(node->op)));
    if (auto kept = node->retained.lock()) {
      if (!kept->grad) kept->grad = g.clone().impl();
      else Tensor(kept->grad).add_(g);
    }
    Need need(node->inputs.size());
    for (size_t i = 0; i < need.size(); ++i) need[i] = node->inputs[i].need;
    Grads grads = node->backward(g, need);
    node->backward = nullptr;  // frees what the lambda saved; the graph is single-use
    g = Tensor();              // so that a gradient passed through unchanged can be taken over
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Edge& e = node->inputs[i];
      if (!e.need) {
        if (e.node && --deps[e.node.get()] == 0) ready.push_back(e.node);
        continue;
      }
      if (i >= grads.size() || !grads[i].defined())
        throw Error(fmt::format("not implemented: {}/input {}", op_name(node->op), i));
      // moved out of grads, so that a leaf's gradient nobody else holds can be taken over
      Tensor gi = grads[i].shape() == e.shape ? std::move(grads[i]) : ops::sum_to(grads[i], e.shape);
      if (e.leaf) {
        accumulate_leaf(*e.leaf, std::move(gi));
        if (count_leaves && --leaf_deps[e.leaf.get()] == 0) g_grad_ready(Tensor(e.leaf));
      } else {
        auto [it, inserted] = pending.try_emplace(e.node.get(), gi);
        if (!inserted) it->second = ops::add_nograd(it->second, gi);
        if (--deps[e.node.get()] == 0) ready.push_back(e.node);
      }
    }
  }
}

void Tensor::backward() const {
  if (defined() && numel() != 1)
    throw Error(fmt::format("backward(): tensor of shape {} is not a scalar; pass an explicit gradient",
                            shape_str()));
  descent::backward(*this, ones(shape(), dtype()));
}

void Tensor::backward(const Tensor& grad) const { descent::backward(*this, grad); }

void Tensor::retain_grad() const {
  if (!defined() || !requires_grad()) throw Error("retain_grad(): tensor does not require grad");
  if (impl()->grad_fn) impl()->grad_fn->retained = impl();
}

}  // namespace descent
