// LibTorch's side of the per-op overhead benchmark: the cases of bench/bench_op_overhead.cpp,
// written with LibTorch's C++ API, timed by the same rule (op_overhead_timing.h).
//
//   libtorch_op_overhead [threads=1]
#include <torch/torch.h>

#include <cstdlib>

#include "op_overhead_timing.h"

int main(int argc, char** argv) {
  torch::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  torch::Tensor a = torch::ones({1}), b = torch::ones({1});
  {
    torch::NoGradGuard no_grad;
    op_overhead::report("libtorch", "add_nograd", op_overhead::median_ns_per_call([&] { torch::Tensor y = a + b; }));
  }
  torch::Tensor ag = torch::ones({1}).requires_grad_();
  op_overhead::report("libtorch", "add_record", op_overhead::median_ns_per_call([&] { torch::Tensor y = ag + b; }));

  torch::Tensor x = torch::ones({1}).requires_grad_(), w = torch::full({1}, 0.5), c = torch::full({1}, 0.25);
  op_overhead::report("libtorch", "chain_backward", op_overhead::median_ns_per_call([&] {
                        x.mutable_grad() = torch::Tensor();
                        torch::relu(x * w + c).sum().backward();
                      }));

  torch::Tensor xs = torch::full({4, 8}, 0.1), W = torch::full({8, 8}, 0.01).requires_grad_(),
                bias = torch::zeros({8}).requires_grad_();
  op_overhead::report("libtorch", "linear_step", op_overhead::median_ns_per_call([&] {
                        W.mutable_grad() = torch::Tensor();
                        bias.mutable_grad() = torch::Tensor();
                        torch::relu(torch::nn::functional::linear(xs, W, bias)).sum().backward();
                      }));
}
