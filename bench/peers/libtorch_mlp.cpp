// LibTorch peer of descent's MLP benchmark: 784-256-256-10 with ReLU under the protocol of
// bench/compare.sh (libtorch_protocol.h).
//
//   libtorch_mlp [epochs=10] [threads=2]
#include "libtorch_protocol.h"

int main(int argc, char** argv) {
  return peer::run_libtorch("mlp", {784}, 10, argc, argv, [] {
    return torch::nn::Sequential(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 256),
                                 torch::nn::ReLU(), torch::nn::Linear(256, 10));
  });
}
