// The demo network in C++: 784-256-256-10 ReLU MLP, SGD with momentum, Fashion-MNIST.
#include <descent/descent.h>

#include <cstdio>

int main() {
  using namespace descent;
  data::PreparedData d = data::prepare({.name = "fashion-mnist"});
  data::Loader train(d.train, {.batch_size = 128, .seed = 0, .flatten = true});
  data::Loader test(d.test, {.batch_size = 1000, .shuffle = false, .flatten = true});

  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(784, 256));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::Linear>(256, 256));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::Linear>(256, 10));
  optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  auto loss = loss::make_loss(Args());      // cross-entropy

  for (int epoch = 0; epoch < 10; ++epoch) {
    train.start_epoch(epoch);
    for (data::Batch b; train.next(b);) {
      Tensor l = (*loss)(net(b.x), b.y);
      opt.zero_grad();
      l.backward();
      opt.step();
    }
    std::printf("epoch %d  test accuracy %.4f\n", epoch + 1, train::evaluate(net, *loss, test).acc);
  }
}
