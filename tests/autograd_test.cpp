// Tests of descent/autograd.h: what the engine does with gradients (edges add up, broadcasting is
// undone, leaves accumulate), grad mode, detach, the errors of misuse, deep graphs, and memory
// (saved tensors released, no cycles, no new system allocations in a steady training step).
// Per-op derivatives are checked numerically in gradcheck_test.cpp.
//
// To add a case: add a TEST to the suite of its family (Edges, Broadcast, LeafGrad, NoGrad, Misuse,
// Deep, Memory). Compute expected gradients by hand in double from the chain rule, in float64
// tensors, and compare with expect_values (1e-12 relative).
#include <gtest/gtest.h>

#include "error_test_util.h"
#include <pthread.h>

#include <cmath>
#include <functional>
#include <thread>

#include "autograd/node.h"
#include "descent/autograd.h"
#include "descent/ops.h"
#include "tensor/allocator.h"
#include "tensor/impl.h"

using namespace descent;
namespace ops = descent::ops;

namespace {

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want, double rtol = 1e-12) {
  ASSERT_TRUE(t.defined()) << "gradient missing";
  ASSERT_EQ(t.shape(), shape);
  const auto got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rtol * std::abs(want[i]) + 1e-15) << "element " << i;
}

Tensor f64(const std::vector<double>& v, const Shape& s) { return from_vector(v, s, DType::F64); }
Tensor leaf(const std::vector<double>& v, const Shape& s) { return f64(v, s).requires_grad_(); }

// ---- recording ------------------------------------------------------------------------------------

TEST(Graph, outputs_of_recorded_ops_require_grad_and_are_not_leaves) {
  Tensor x = leaf({1, 2}, {2});
  Tensor c = f64({3, 4}, {2});
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  Tensor y = x * c;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  Tensor z = c * 2.0;  // no input requires grad: nothing recorded
  EXPECT_FALSE(z.requires_grad());
  EXPECT_TRUE(z.is_leaf());
  EXPECT_FALSE(ops::eq(x, c).requires_grad());  // comparisons carry no gradient
}

// ---- gradients along several edges are added ----------------------------------------------------------

TEST(Edges, tensor_used_twice_in_one_op_and_across_ops) {
  const std::vector<double> xv = {-1.5, 0.25, 2};
  Tensor x = leaf(xv, {3});
  ops::sum(x * x + x).backward();  // d/dx (x^2 + x) = 2x + 1
  std::vector<double> want;
  for (double v : xv) want.push_back(2 * v + 1);
  expect_values(x.grad(), {3}, want);
}

TEST(Edges, diamond_through_a_shared_intermediate) {
  // a = e^x feeds both b = a x and c = a + b:  d/dx Σ c = e^x + (e^x x + e^x) = e^x (2 + x).
  const std::vector<double> xv = {-1, 0.5, 1.25};
  Tensor x = leaf(xv, {3});
  Tensor a = ops::exp(x);
  Tensor b = a * x;
  ops::sum(a + b).backward();
  std::vector<double> want;
  for (double v : xv) want.push_back(std::exp(v) * (2 + v));
  expect_values(x.grad(), {3}, want);
}

TEST(Edges, intermediate_with_two_consumers) {
  // h = tanh x used by Σ h^2 and Σ h:  dL/dh = 2h + 1, dL/dx = (2h + 1)(1 - h^2).
  const std::vector<double> xv = {-0.7, 0.1, 0.9, 2.0};
  Tensor x = leaf(xv, {2, 2});
  Tensor h = ops::tanh(x);
  (ops::sum(h * h) + ops::sum(h)).backward();
  std::vector<double> want;
  for (double v : xv) {
    const double t = std::tanh(v);
    want.push_back((2 * t + 1) * (1 - t * t));
  }
  expect_values(x.grad(), {2, 2}, want);
}

TEST(Edges, only_inputs_that_require_grad_receive_one) {
  Tensor a = f64({1, 2, 3, 4}, {2, 2});
  Tensor b = leaf({5, 6, 7, 8}, {2, 2});
  ops::sum(ops::matmul(a, b)).backward();
  EXPECT_FALSE(a.grad().defined());
  // d/dB Σ (A B) = A^T 1: column sums of A repeated along each row of B.
  expect_values(b.grad(), {2, 2}, {1 + 3, 1 + 3, 2 + 4, 2 + 4});
}

// ---- broadcasting undone in the engine -------------------------------------------------------------

TEST(Broadcast, bias_gradient_is_summed_to_its_shape) {
  const std::vector<double> wv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  Tensor x = leaf(std::vector<double>(12, 0.5), {4, 3});
  Tensor w = f64(wv, {4, 3});  // fixed weights of the outputs: dL/d(x + b) = w
  for (const Shape& bs : {Shape{3}, Shape{1, 3}, Shape{}, Shape{4, 1}}) {
    SCOPED_TRACE(shape_str(bs));
    x.set_grad(Tensor());
    Tensor b = leaf(std::vector<double>(static_cast<size_t>(shape_numel(bs)), 0.1), bs);
    ops::sum((x + b) * w).backward();
    expect_values(x.grad(), {4, 3}, wv);
    // b.grad has b's shape; each element sums the w of the outputs it was broadcast to.
    std::vector<double> want(static_cast<size_t>(shape_numel(bs)), 0.0);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const double g = wv[static_cast<size_t>(i * 3 + j)];
        if (bs == Shape{3} || bs == Shape{1, 3}) want[static_cast<size_t>(j)] += g;
        if (bs == Shape{}) want[0] += g;
        if (bs == Shape{4, 1}) want[static_cast<size_t>(i)] += g;
      }
    expect_values(b.grad(), bs, want);
  }
}

TEST(Broadcast, both_operands_broadcast_in_mul) {
  // a [2, 1, 3] * s [4, 1] -> [2, 4, 3]; dL/da = Σ_j s_j, dL/ds = Σ_{i,k} a_ik.
  const std::vector<double> av = {1, 2, 3, 4, 5, 6}, sv = {0.5, -1, 2, 3};
  Tensor a = leaf(av, {2, 1, 3}), s = leaf(sv, {4, 1});
  ops::sum(a * s).backward();
  const double ssum = 0.5 - 1 + 2 + 3, asum = 21;
  expect_values(a.grad(), {2, 1, 3}, std::vector<double>(6, ssum));
  expect_values(s.grad(), {4, 1}, std::vector<double>(4, asum));
}

TEST(Broadcast, linear_bias_gradient_has_shape_out) {
  Generator gen(3);
  Tensor x = uniform({5, 4}, -1, 1, gen, DType::F64);
  Tensor w = uniform({3, 4}, -1, 1, gen, DType::F64).requires_grad_();
  Tensor b = zeros({3}, DType::F64).requires_grad_();
  Tensor g = uniform({5, 3}, -1, 1, gen, DType::F64);
  ops::linear(x, w, b).backward(g);
  std::vector<double> want(3, 0.0);
  const auto gv = g.to_vector();
  for (size_t i = 0; i < 5; ++i)
    for (size_t j = 0; j < 3; ++j) want[j] += gv[i * 3 + j];
  expect_values(b.grad(), {3}, want);
  EXPECT_EQ(w.grad().shape(), (Shape{3, 4}));
}

// ---- leaf gradients accumulate ----------------------------------------------------------------------

TEST(LeafGrad, accumulates_across_backward_calls) {
  const std::vector<double> xv = {1, -2, 3};
  Tensor x = leaf(xv, {3});
  ops::sum(x * x).backward();
  Tensor first = x.grad();
  expect_values(first, {3}, {2, -4, 6});
  ops::sum(x * 3.0).backward();  // a second graph: += 3
  expect_values(x.grad(), {3}, {5, -1, 9});
  EXPECT_TRUE(x.grad().is_same(first));  // in place, as torch: the same gradient tensor grows
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
  ops::sum(x * 3.0).backward();
  expect_values(x.grad(), {3}, {3, 3, 3});
}

TEST(LeafGrad, gradients_are_not_shared_between_leaves) {
  // add passes the same g to both inputs; each leaf must get its own copy.
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  ops::sum(a + b).backward();
  a.grad().add_(f64({10, 10}, {2}));
  expect_values(b.grad(), {2}, {1, 1});
}

TEST(LeafGrad, explicit_gradient_is_copied_not_aliased) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor g = f64({0.5, 1, 2}, {3});
  x.clone().backward(g);
  g.fill_(100.0);
  expect_values(x.grad(), {3}, {0.5, 1, 2});
  // backward on the leaf itself also copies.
  Tensor y = leaf({1}, {});
  Tensor gy = scalar(4.0, DType::F64);
  y.backward(gy);
  gy.fill_(0.0);
  expect_values(y.grad(), {}, {4});
  y.backward();
  expect_values(y.grad(), {}, {5});
}

// The engine takes the first gradient of a leaf over as its .grad without copying it when no other
// handle or view can see it; these cases must still give each .grad storage of its own.
bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl()->storage == b.impl()->storage; }

TEST(LeafGrad, a_gradient_nobody_else_holds_becomes_the_grad_without_a_copy) {
  Tensor x = leaf({1, 2}, {2});
  const void* made = nullptr;
  Tensor y = autograd::record(Op::Mul, x.detach() * 2.0, {x}, [&made](const Tensor& g) {
    Tensor gx = g * 2.0;
    made = gx.raw_data();
    return autograd::Grads{gx};
  });
  ops::sum(y).backward();
  expect_values(x.grad(), {2}, {2, 2});
  EXPECT_EQ(x.grad().raw_data(), made);
}

TEST(LeafGrad, a_gradient_someone_else_holds_is_copied) {
  // The backward keeps a handle (as a cache would) and a view of its gradient: both must stay
  // independent of x.grad, which the next backward changes in place.
  Tensor x = leaf({1, 2}, {2}), z = leaf({5, 6}, {2});
  Tensor kept, view;
  auto twice = [&](const Tensor& in, bool keep_view) {
    return autograd::record(Op::Mul, in.detach() * 2.0, {in}, [&kept, &view, keep_view](const Tensor& g) {
      Tensor gx = g * 2.0;
      if (keep_view) view = gx.reshape({2, 1});
      else kept = gx;
      return autograd::Grads{gx};
    });
  };
  ops::sum(twice(x, false)).backward();
  ops::sum(twice(z, true)).backward();
  EXPECT_FALSE(shares_storage(x.grad(), kept));
  EXPECT_FALSE(shares_storage(z.grad(), view));
  ops::sum(x * 3.0).backward();
  ops::sum(z * 3.0).backward();
  expect_values(x.grad(), {2}, {5, 5});
  expect_values(z.grad(), {2}, {5, 5});
  expect_values(kept, {2}, {2, 2});
  expect_values(view, {2, 1}, {2, 2});
}

TEST(LeafGrad, one_gradient_flowing_to_two_leaves_gives_two_tensors) {
  // add passes the same g on to both inputs: one leaf may take it over, the other must copy.
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  ops::sum((a + b) * 3.0).backward();
  EXPECT_FALSE(shares_storage(a.grad(), b.grad()));
  b.grad().add_(f64({10, 10}, {2}));
  expect_values(a.grad(), {2}, {3, 3});
  expect_values(b.grad(), {2}, {13, 13});
  // through a reshape too: the reshape's gradient is a view of the one the other leaf sees
  Tensor c = leaf({1, 2, 3, 4}, {4}), d = leaf({1, 1, 1, 1}, {2, 2});
  ops::sum((c.reshape({2, 2}) + d) * 2.0).backward();
  EXPECT_FALSE(shares_storage(c.grad(), d.grad()));
  c.grad().fill_(0.0);
  expect_values(d.grad(), {2, 2}, {2, 2, 2, 2});
}

TEST(LeafGrad, a_tensor_used_twice_gets_the_sum_in_its_own_tensor) {
  Tensor a = leaf({1, 2}, {2}), b = leaf({0.5, 0.5}, {2});
  ops::sum((a + a) * b).backward();  // add passes the same g twice to a
  expect_values(a.grad(), {2}, {1, 1});
  expect_values(b.grad(), {2}, {2, 4});
  EXPECT_FALSE(shares_storage(a.grad(), b.grad()));
  Tensor x = leaf({1, -2}, {2});
  ops::sum(x * x).backward();
  expect_values(x.grad(), {2}, {2, -4});
}

TEST(LeafGrad, a_retained_gradient_and_the_leaf_gradients_are_separate) {
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  Tensor h = a + b;
  h.retain_grad();
  ops::sum(h * 2.0).backward();
  EXPECT_FALSE(shares_storage(h.grad(), a.grad()));
  EXPECT_FALSE(shares_storage(h.grad(), b.grad()));
  EXPECT_FALSE(shares_storage(a.grad(), b.grad()));
  a.grad().fill_(7.0);
  expect_values(h.grad(), {2}, {2, 2});
  expect_values(b.grad(), {2}, {2, 2});
}

TEST(LeafGrad, an_explicit_gradient_passed_through_to_leaves_is_copied) {
  // The caller's gradient reaches the leaves unchanged (add) or as a view of it (reshape).
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  Tensor g = f64({0.5, 1}, {2});
  (a + b).backward(g);
  Tensor c = leaf({1, 2, 3, 4}, {2, 2});
  Tensor gc = f64({1, 2, 3, 4}, {4});
  c.reshape({4}).backward(gc);
  EXPECT_FALSE(shares_storage(a.grad(), g));
  EXPECT_FALSE(shares_storage(b.grad(), g));
  EXPECT_FALSE(shares_storage(c.grad(), gc));
  g.fill_(100.0);
  gc.fill_(100.0);
  expect_values(a.grad(), {2}, {0.5, 1});
  expect_values(b.grad(), {2}, {0.5, 1});
  expect_values(c.grad(), {2, 2}, {1, 2, 3, 4});
}

TEST(LeafGrad, explicit_gradient_of_another_float_dtype_is_converted) {
  Tensor x = leaf({1, 2}, {2});
  (x * 2.0).backward(from_vector({1, 3}, {2}, DType::F32));
  EXPECT_EQ(x.grad().dtype(), DType::F64);
  expect_values(x.grad(), {2}, {2, 6});
}

// ---- grad mode ----------------------------------------------------------------------------------

TEST(NoGrad, guard_records_nothing_and_restores) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard off;
    EXPECT_FALSE(grad_enabled());
    Tensor y = ops::exp(x * 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    EXPECT_ERROR_HAS(ops::sum(y).backward(), "does not require grad");
    {
      NoGradGuard nested;
      EXPECT_FALSE(grad_enabled());
    }
    EXPECT_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
  }
  EXPECT_TRUE(grad_enabled());
  Tensor z = x * 2.0;
  EXPECT_TRUE(z.requires_grad());
  EXPECT_FALSE(x.grad().defined());  // nothing under the guard touched x.grad
}

TEST(NoGrad, mode_is_per_thread) {
  NoGradGuard off;
  bool other_thread_enabled = false;
  std::thread t([&] { other_thread_enabled = grad_enabled(); });
  t.join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_FALSE(grad_enabled());
}

// ---- detach ---------------------------------------------------------------------------------------

TEST(Detach, cuts_the_graph_and_shares_storage) {
  const std::vector<double> xv = {1, 2, 3};
  Tensor x = leaf(xv, {3});
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.raw_data(), y.raw_data());
  // Σ x * d: d is a constant, so dL/dx = d = 2x (not 4x as through x * y).
  ops::sum(x * d).backward();
  expect_values(x.grad(), {3}, {2, 4, 6});
  // A detached tensor can start its own graph; gradients stop there.
  x.set_grad(Tensor());
  Tensor e = y.detach().requires_grad_();
  ops::sum(e * e).backward();
  expect_values(e.grad(), {3}, {4, 8, 12});
  EXPECT_FALSE(x.grad().defined());
}

// ---- misuse -----------------------------------------------------------------------------------

TEST(Misuse, backward_on_a_non_scalar_needs_a_gradient) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = x * 2.0;
  EXPECT_ERROR_HAS(y.backward(), "not a scalar");
  EXPECT_ERROR_HAS(y.backward(), "[3]");
  EXPECT_ERROR_HAS(y.backward(f64({1, 1}, {2})), "[2] does not match tensor shape [3]");
  y.backward(f64({1, 0, -1}, {3}));  // the explicit form works
  expect_values(x.grad(), {3}, {2, 0, -2});
  // A one-element tensor of any rank counts as a scalar.
  Tensor z = leaf({4}, {1, 1});
  (z * 3.0).backward();
  expect_values(z.grad(), {1, 1}, {3});
}

TEST(Misuse, backward_on_a_tensor_that_does_not_require_grad) {
  Tensor c = f64({1, 2}, {2});
  EXPECT_ERROR_HAS(ops::sum(c * 2.0).backward(), "does not require grad");
  EXPECT_ERROR_HAS(scalar(1.0).backward(), "does not require grad");
  EXPECT_THROW(Tensor().backward(), Error);
}

TEST(Misuse, backward_through_integer_tensors) {
  Tensor x = leaf({1.5, -2.5}, {2});
  Tensor i = ops::cast(x, DType::I64);  // leaving the floats ends the graph
  EXPECT_FALSE(i.requires_grad());
  EXPECT_ERROR_HAS(ops::argmax(x, 0).backward(), "int64");
  EXPECT_ERROR_HAS(i.backward(from_vector({1, 1}, {2}, DType::I64)), "cannot differentiate a int64 tensor");
  EXPECT_ERROR_HAS(ops::eq(x, x).backward(from_vector({1, 1}, {2}, DType::U8)), "uint8");
}

TEST(Misuse, requires_grad_only_on_floating_leaves) {
  EXPECT_ERROR_HAS(zeros({2}, DType::I64).requires_grad_(), "floating");
  EXPECT_ERROR_HAS(zeros({2}, DType::U8).requires_grad_(), "uint8");
  EXPECT_NO_THROW(zeros({2}, DType::I64).requires_grad_(false));
  Tensor x = leaf({1}, {1});
  Tensor y = x * 2.0;
  EXPECT_ERROR_HAS(y.requires_grad_(), "leaf");
  EXPECT_NO_THROW(zeros({2}).requires_grad_());
}

TEST(Misuse, second_backward_through_the_same_graph) {
  Tensor x = leaf({1, 2}, {2});
  Tensor loss = ops::sum(ops::exp(x));
  loss.backward();
  EXPECT_ERROR_HAS(loss.backward(), "already used");
  EXPECT_ERROR_HAS(loss.backward(), "run the forward again");
  // The first pass was complete and the failed second one added nothing.
  expect_values(x.grad(), {2}, {std::exp(1.0), std::exp(2.0)});
}

TEST(Misuse, a_missing_derivative_is_an_error_not_a_zero) {
  // An op whose backward leaves input 1 undefined although that input needs a gradient.
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  Tensor y = autograd::record(Op::Mul, ops::mul(a.detach(), b.detach()), {a, b},
                              [](const Tensor& g) { return autograd::Grads{g, Tensor()}; });
  EXPECT_ERROR_HAS(ops::sum(y).backward(), "not implemented: mul/input 1");
}

// ---- deep graphs ----------------------------------------------------------------------------------

// 100000 ops in a chain: a recursive engine, or a recursive release of the graph, needs one
// stack frame (or several) per op. The chains are built and released on a thread with a 1 MiB
// stack, so such a recursion fails here on every build type (an 8 MiB main stack hides it up to
// a few 100000 small Release frames, and not at all under sanitizers).
constexpr int kDepth = 100000;
constexpr size_t kSmallStack = size_t{1} << 20;

void run_on_small_stack(const std::function<void()>& f) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, kSmallStack), 0);
  pthread_t thread;
  auto trampoline = [](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&f)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST(Deep, long_chain_backward_and_release) {
  Tensor x = leaf({1.0}, {});
  const double a = 1.00001;
  run_on_small_stack([&] {
    Tensor y = x;
    for (int i = 0; i < kDepth; ++i) y = y * a;
    y.backward();
  });  // the used graph is released at the end of the lambda
  expect_values(x.grad(), {}, {std::pow(a, kDepth)}, 1e-9);  // rounding of 1e5 products
}

TEST(Deep, long_chain_released_without_backward) {
  Tensor x = leaf({1.0}, {});
  std::weak_ptr<autograd::Node> first;
  run_on_small_stack([&] {
    Tensor y = x + 1.0;
    first = y.impl()->grad_fn;
    for (int i = 0; i < kDepth; ++i) y = ops::tanh(y);
  });
  EXPECT_TRUE(first.expired());
}

TEST(Deep, shared_subgraph_survives_the_release_of_one_consumer) {
  // The iterative release must not free a node another graph still uses.
  Tensor x = leaf({0.5}, {});
  Tensor h = ops::exp(x);
  { Tensor other = h * 2.0; }  // dropped: h's node is still owned by h
  ops::sum(h * 3.0).backward();
  expect_values(x.grad(), {}, {3 * std::exp(0.5)});
}

// ---- memory -------------------------------------------------------------------------------------

TEST(Memory, saved_tensors_are_released_by_backward) {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = ops::exp(x);  // its backward keeps y's values
  const auto storage_users = y.impl()->storage.use_count();
  EXPECT_GE(storage_users, 2);
  ops::sum(y).backward();
  EXPECT_EQ(y.impl()->storage.use_count(), storage_users - 1);
}

TEST(Memory, graph_holds_no_cycles) {
  std::weak_ptr<autograd::Node> node;
  std::weak_ptr<TensorImpl> out;
  Tensor x = leaf({1, 2}, {2});
  {
    Tensor y = ops::sigmoid(x * x);  // sigmoid and mul save their output and inputs
    node = y.impl()->grad_fn;
    out = y.impl();
  }
  EXPECT_TRUE(node.expired());
  EXPECT_TRUE(out.expired());
}

// A small MLP step (forward, backward, SGD update) repeated: after warm-up the caching allocator
// serves every tensor, as DESIGN.md promises for a training step in steady state.
TEST(Memory, steady_training_step_makes_no_system_allocations) {
  Generator gen(0);
  Tensor x = uniform({32, 20}, -1, 1, gen);
  Tensor y = from_vector(std::vector<double>(32, 1.0), {32}, DType::I64);
  Tensor w1 = uniform({16, 20}, -0.3, 0.3, gen).requires_grad_(), b1 = zeros({16}).requires_grad_();
  Tensor w2 = uniform({4, 16}, -0.3, 0.3, gen).requires_grad_(), b2 = zeros({4}).requires_grad_();
  auto step = [&] {
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->set_grad(Tensor());
    Tensor loss = ops::cross_entropy(ops::linear(ops::relu(ops::linear(x, w1, b1)), w2, b2), y);
    loss.backward();
    NoGradGuard off;
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->add_(p->grad(), -0.1);
    return loss.item();
  };
  const double first = step();
  step();
  step();
  const uint64_t before = alloc::stats().system_allocs;
  double last = 0;
  for (int i = 0; i < 5; ++i) last = step();
  EXPECT_EQ(alloc::stats().system_allocs, before);
  EXPECT_LT(last, first);  // and the steps do train
}

}  // namespace
