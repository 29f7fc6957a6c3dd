// The judged trainings (label `slow`): the lecture's XOR network and the demo MLP on
// Fashion-MNIST. Each asserts the bar of the foundation issue on numbers the run produced.
//
// To add a case: a TEST that trains through the public API (or the Trainer from a config in
// examples/) and asserts the metric bar it must reach.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "descent/descent.h"

using namespace descent;

TEST(Train, XorFullBatchGradientDescentReachesLowLoss) {
  // 2-2-1 sigmoid network, squared error, full-batch GD: the lecture's first network.
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
  double first = 0, last = 0;
  for (int step = 0; step < 20000; ++step) {
    Tensor l = ops::mse_loss(net(x), y);
    if (step == 0) first = l.item();
    opt.zero_grad();
    l.backward();
    opt.step();
    last = l.item();
  }
  EXPECT_GT(first, 0.2);
  EXPECT_LT(last, 0.01);
  NoGradGuard off;
  Tensor p = net(x);
  EXPECT_LT(p.at({0, 0}), 0.5);
  EXPECT_GT(p.at({1, 0}), 0.5);
  EXPECT_GT(p.at({2, 0}), 0.5);
  EXPECT_LT(p.at({3, 0}), 0.5);
}

TEST(Train, XorConfigFromTheCliReachesLowLoss) {
  // examples/xor.toml: the same network as a practitioner writes it, run by `descent train`.
  namespace fs = std::filesystem;
  fs::path run = fs::temp_directory_path() / ("descent_xor_test_" + std::to_string(::getpid()));
  fs::remove_all(run);
  std::string cmd = std::string("cd ") + DESCENT_SOURCE_DIR + " && " + DESCENT_CLI + " train examples/xor.toml --quiet --out " +
                    run.string() + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(run / "metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  double loss = nlohmann::json::parse(last)["train_loss"].get<double>();
  EXPECT_LT(loss, 0.01);
  fs::remove_all(run);
}

TEST(Train, FashionMlpReachesTheAccuracyBar) {
  // The demo config as shipped: 784-256-256-10 ReLU, SGD lr 0.1 momentum 0.9, batch 128, seed 0,
  // float32, 10 epochs. The bar is test accuracy >= 0.87 in metrics.jsonl.
  namespace fs = std::filesystem;
  fs::path run = fs::temp_directory_path() / ("descent_train_test_" + std::to_string(::getpid()));
  fs::remove_all(run);
  Config cfg = load_config(std::string(DESCENT_SOURCE_DIR) + "/examples/fashion_mlp.toml", {"train.progress=false"});
  ASSERT_EQ(cfg.train.epochs, 10);
  train::Trainer trainer(cfg, {.run_dir = run.string(), .progress = false});
  trainer.fit();
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 10u);
  double acc = lines.back()["test_acc"].get<double>();
  std::cout << "Fashion-MNIST MLP test accuracy after 10 epochs: " << acc << "\n";
  EXPECT_GE(acc, 0.87);
  EXPECT_LT(lines.back()["train_loss"].get<double>(), lines.front()["train_loss"].get<double>());
  fs::remove_all(run);
}
