// The protocol of bench/compare.sh written with LibTorch, the way a competent LibTorch user would
// (whole dataset as one float tensor, randperm + index_select batches, torch::nn::Sequential,
// torch::optim::SGD), shared by libtorch_mlp.cpp and libtorch_cnn.cpp, which only say which
// network. Nothing here is tuned beyond that: the environment decides the BLAS and its
// settings, which is what compare.sh varies.
//
// Fashion-MNIST, pixels scaled to [0, 1] and decoded before timing; SGD lr 0.1 momentum 0.9;
// batch 128; cross-entropy; seed 0; reshuffled every epoch; last partial batch kept; float32.
// Only the training loop is timed; test accuracy after the last epoch, 1000 images at a time.
#pragma once
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <utility>
#include <vector>

#include "peer_common.h"

namespace peer {

/// Runs the protocol on the network make_net() builds (after torch::manual_seed(0)), with images
/// shaped [n, image_shape...]; arguments: [epochs=default_epochs] [threads=2]. Returns main's code.
inline int run_libtorch(const char* model, const std::vector<int64_t>& image_shape, int default_epochs, int argc,
                        char** argv, const std::function<torch::nn::Sequential()>& make_net) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : default_epochs;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  torch::set_num_threads(threads);
  torch::manual_seed(0);

  auto to_tensors = [&](const Split& s) {
    std::vector<int64_t> shape{s.n};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    auto x = torch::from_blob(const_cast<uint8_t*>(s.pixels.data()), shape, torch::kUInt8)
                 .to(torch::kFloat32)
                 .div_(255.0);
    auto y = torch::from_blob(const_cast<uint8_t*>(s.labels.data()), {s.n}, torch::kUInt8).to(torch::kInt64);
    return std::make_pair(x, y);
  };
  auto [x_train, y_train] = to_tensors(load_split("train"));
  auto [x_test, y_test] = to_tensors(load_split("t10k"));
  const int64_t n = x_train.size(0), batch = 128;

  torch::nn::Sequential net = make_net();
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  EpochLog log;
  for (int e = 0; e < epochs; ++e) {
    net->train();
    log.begin();
    auto perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t start = 0; start < n; start += batch) {
      auto idx = perm.slice(0, start, std::min(start + batch, n));
      auto x = x_train.index_select(0, idx), y = y_train.index_select(0, idx);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>(), ++steps;
    }
    log.end(e, n, loss_sum / steps);
  }

  torch::NoGradGuard no_grad;
  net->eval();
  int64_t correct = 0;
  for (int64_t s = 0; s < x_test.size(0); s += 1000) {
    auto out = net->forward(x_test.slice(0, s, s + 1000));
    correct += out.argmax(1).eq(y_test.slice(0, s, s + 1000)).sum().item<int64_t>();
  }
  log.result("libtorch", model, threads, epochs, n, double(correct) / double(x_test.size(0)));
  return 0;
}

}  // namespace peer
