// Shared by the benchmarks: the median, the reference models of issue 10 (the same layers and
// seeds in every benchmark, so their numbers describe one network), and the MLP's GEMM floor.
#pragma once
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <vector>

#include "descent/descent.h"
#include "kernels/gemm.h"

namespace bench {

/// Median of v (the mean of the middle two for an even count; 0 for none).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// CPU seconds of `clock`: CLOCK_THREAD_CPUTIME_ID for the calling thread (unlike wall time, not
/// inflated while it waits for a core on a busy machine), CLOCK_PROCESS_CPUTIME_ID for all threads.
inline double cpu_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// The reference MLP 784-256-256-10 with ReLU, layers seeded 1, 2, 3.
inline std::shared_ptr<descent::nn::Sequential> reference_mlp() {
  using namespace descent;
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(784, 256, nn::LinearOptions{.seed = 1}));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Linear>(256, 256, nn::LinearOptions{.seed = 2}));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Linear>(256, 10, nn::LinearOptions{.seed = 3}));
  return net;
}

/// The reference CNN conv(1->32, 3x3)-ReLU-maxpool2-conv(32->64, 3x3)-ReLU-maxpool2-
/// linear(1600->128)-ReLU-linear(128->10), layers seeded 1 to 4.
inline std::shared_ptr<descent::nn::Sequential> reference_cnn() {
  using namespace descent;
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(1, 32, std::array<int64_t, 2>{3, 3}, nn::Conv2dOptions{.seed = 1}));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::MaxPool2d>(ops::Pool2dOptions{}));
  net->push_back(std::make_shared<nn::Conv2d>(32, 64, std::array<int64_t, 2>{3, 3}, nn::Conv2dOptions{.seed = 2}));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::MaxPool2d>(ops::Pool2dOptions{}));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(1600, 128, nn::LinearOptions{.seed = 3}));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Linear>(128, 10, nn::LinearOptions{.seed = 4}));
  return net;
}

/// Seconds of one epoch of the reference MLP's GEMMs only (forward, dW and dX of each layer; no
/// bias, activation, loss, optimizer or data), through kernels::gemm as descent's Linear uses it.
inline double gemm_floor_epoch(int64_t samples, int64_t batch) {
  const int64_t dims[] = {784, 256, 256, 10};
  std::vector<std::vector<float>> w, a, g, dw;
  for (int l = 0; l < 3; ++l) {
    w.emplace_back(dims[l + 1] * dims[l], 0.01f);
    dw.emplace_back(dims[l + 1] * dims[l], 0.0f);
  }
  for (int l = 0; l < 4; ++l) {
    a.emplace_back(batch * dims[l], 0.5f);
    g.emplace_back(batch * dims[l], 0.1f);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < samples; start += batch) {
    const int64_t n = std::min(batch, samples - start);
    for (int l = 0; l < 3; ++l)  // a[l+1] = a[l] W^T
      descent::kernels::gemm(false, true, n, dims[l + 1], dims[l], 1.0f, a[l].data(), dims[l], w[l].data(), dims[l],
                             0.0f, a[l + 1].data(), dims[l + 1]);
    for (int l = 2; l >= 0; --l) {
      descent::kernels::gemm(true, false, dims[l + 1], dims[l], n, 1.0f, g[l + 1].data(), dims[l + 1], a[l].data(),
                             dims[l], 0.0f, dw[l].data(), dims[l]);  // dW = G^T A
      if (l > 0)                                                    // the input needs no gradient
        descent::kernels::gemm(false, false, n, dims[l], dims[l + 1], 1.0f, g[l + 1].data(), dims[l + 1],
                               w[l].data(), dims[l], 0.0f, g[l].data(), dims[l]);  // dX = G W
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace bench
