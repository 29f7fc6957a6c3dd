// The lecture's tiny network: XOR with a 2-2-1 sigmoid network, squared error, full-batch
// gradient descent. Prints the loss every 1000 steps and the four predictions at the end.
#include <descent/descent.h>

#include <cstdio>

int main() {
  using namespace descent;
  Tensor x = from_vector({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}, DType::F64);
  Tensor y = from_vector({0, 1, 1, 0}, {4, 1}, DType::F64);

  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(2, 2, nn::LinearOptions{.dtype = DType::F64}));
  net.push_back(std::make_shared<nn::Sigmoid>());
  net.push_back(std::make_shared<nn::Linear>(2, 1, nn::LinearOptions{.dtype = DType::F64}));
  net.push_back(std::make_shared<nn::Sigmoid>());
  Generator gen(1);
  for (auto& [name, p] : net.named_parameters()) init::uniform_(p, gen, -1.0, 1.0);

  optim::SGD opt(net.parameters(), {.lr = 2.0});
  double loss = 0;
  for (int step = 1; step <= 20000; ++step) {
    Tensor l = ops::mse_loss(net(x), y);   // full batch: all four examples every step
    opt.zero_grad();
    l.backward();
    opt.step();
    loss = l.item();
    if (step % 2000 == 0) std::printf("step %5d  loss %.6f\n", step, loss);
  }
  NoGradGuard no_grad;
  Tensor p = net(x);
  for (int i = 0; i < 4; ++i) std::printf("%g xor %g -> %.3f\n", x.at({i, 0}), x.at({i, 1}), p.at({i, 0}));
  return loss < 0.01 ? 0 : 1;
}
