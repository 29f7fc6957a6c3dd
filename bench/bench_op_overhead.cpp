// Per-op overhead of descent (issue 10: "minimal per-op overhead, measured with a per-op
// benchmark"): the fixed cost of dispatching an op, recording its graph node and running the
// backward engine, on tensors so small that the arithmetic is nothing. The same cases, in the same
// words, are in bench/peers/libtorch_op_overhead.cpp; bench/op_overhead.sh runs both alternately.
//
//   add_nograd      y = a + b on [1] float tensors, no graph
//   add_record      y = a + b with a requiring grad (a node is recorded, then dropped)
//   chain_backward  relu(x * w + c).sum().backward() on [1] tensors: 4 ops forward, 4 backward
//   linear_step     relu(linear(x [4, 8], W [8, 8], b)).sum().backward(): the small-GEMM path
//
//   build/bench/bench_op_overhead [threads=1]
#include <omp.h>

#include <cstdlib>

#include "descent/descent.h"
#include "peers/op_overhead_timing.h"

using namespace descent;

int main(int argc, char** argv) {
  omp_set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  Tensor a = ones({1}), b = ones({1});
  {
    NoGradGuard no_grad;
    op_overhead::report("descent", "add_nograd", op_overhead::median_ns_per_call([&] { Tensor y = a + b; }));
  }
  Tensor ag = ones({1}).requires_grad_();
  op_overhead::report("descent", "add_record", op_overhead::median_ns_per_call([&] { Tensor y = ag + b; }));

  Tensor x = ones({1}).requires_grad_(), w = full({1}, 0.5), c = full({1}, 0.25);
  op_overhead::report("descent", "chain_backward", op_overhead::median_ns_per_call([&] {
                        x.set_grad(Tensor());
                        ops::sum(ops::relu(x * w + c)).backward();
                      }));

  Tensor xs = full({4, 8}, 0.1), W = full({8, 8}, 0.01).requires_grad_(), bias = zeros({8}).requires_grad_();
  op_overhead::report("descent", "linear_step", op_overhead::median_ns_per_call([&] {
                        W.set_grad(Tensor());
                        bias.set_grad(Tensor());
                        ops::sum(ops::relu(ops::linear(xs, W, bias))).backward();
                      }));
}
