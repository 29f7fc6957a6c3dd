// LibTorch peer of descent's CNN (examples/fashion_cnn.toml): the protocol of bench/compare.sh
// written the way a competent LibTorch user would (see libtorch_mlp.cpp for the data and loop).
//
// conv(1->32, 3x3)-ReLU-maxpool2-conv(32->64, 3x3)-ReLU-maxpool2-linear(1600->128)-ReLU-
// linear(128->10); SGD lr 0.1 momentum 0.9; batch 128; cross-entropy; seed 0; reshuffled every
// epoch; last partial batch kept; float32. Only the training loop is timed.
//
//   libtorch_cnn [epochs=3] [threads=2]
#include <torch/torch.h>

#include "peer_common.h"

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 3;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  torch::set_num_threads(threads);
  torch::manual_seed(0);

  auto to_tensors = [](const peer::Split& s) {
    auto x = torch::from_blob(const_cast<uint8_t*>(s.pixels.data()), {s.n, 1, 28, 28}, torch::kUInt8)
                 .to(torch::kFloat32)
                 .div_(255.0);
    auto y = torch::from_blob(const_cast<uint8_t*>(s.labels.data()), {s.n}, torch::kUInt8).to(torch::kInt64);
    return std::make_pair(x, y);
  };
  auto [x_train, y_train] = to_tensors(peer::load_split("train"));
  auto [x_test, y_test] = to_tensors(peer::load_split("t10k"));
  const int64_t n = x_train.size(0), batch = 128;

  namespace tnn = torch::nn;
  tnn::Sequential net(tnn::Conv2d(tnn::Conv2dOptions(1, 32, 3)), tnn::ReLU(), tnn::MaxPool2d(tnn::MaxPool2dOptions(2)),
                      tnn::Conv2d(tnn::Conv2dOptions(32, 64, 3)), tnn::ReLU(), tnn::MaxPool2d(tnn::MaxPool2dOptions(2)),
                      tnn::Flatten(), tnn::Linear(1600, 128), tnn::ReLU(), tnn::Linear(128, 10));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  peer::EpochLog log;
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
  log.result("libtorch", "cnn", threads, epochs, n, double(correct) / double(x_test.size(0)));
}
