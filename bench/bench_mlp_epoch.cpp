// Epoch time of the reference MLP (784-256-256-10 ReLU, SGD lr 0.1 momentum 0.9, batch 128,
// float32, Fashion-MNIST, reshuffled every epoch, last partial batch kept), training loop only.
//
// Prints the median and min epoch time over epochs 2..5, samples/s, peak RSS, and — measured in
// the same process — the GEMM floor: the time of exactly the GEMMs one epoch needs (forward, dX,
// dW for each layer) through the same oneDNN sgemm, with nothing else. The ratio descent / floor
// shows what the framework adds on top of the unavoidable arithmetic.
//
//   build/bench/bench_mlp_epoch [epochs=5] [threads=0 (all cores)]
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench_util.h"
#include "descent/descent.h"
#include "kernels/gemm.h"

using namespace descent;
using Clock = std::chrono::steady_clock;


int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 5;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  if (threads > 0) omp_set_num_threads(threads);

  data::PreparedData d = data::prepare({.name = "fashion-mnist"});
  data::Loader loader(d.train, {.batch_size = 128, .shuffle = true, .seed = 0, .flatten = true});
  const int64_t samples = loader.num_samples();

  auto net = bench::reference_mlp();
  optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});

  std::vector<double> times, floors;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    auto t0 = Clock::now();
    for (data::Batch b; loader.next(b);) {
      Tensor l = ops::cross_entropy((*net)(b.x), b.y);
      opt.zero_grad();
      l.backward();
      opt.step();
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    double floor = bench::gemm_floor_epoch(samples, 128);
    fmt::print("epoch {}: {:.3f} s  ({:.0f} samples/s)   gemm floor {:.3f} s\n", e + 1, secs, samples / secs, floor);
    if (e >= 1) times.push_back(secs), floors.push_back(floor);
  }
  if (times.empty()) times.push_back(0), floors.push_back(1);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double med = bench::median(times), fl = bench::median(floors);
  fmt::print("threads {}  epoch time median {:.3f} s  min {:.3f} s  {:.0f} samples/s  peak RSS {:.1f} MiB\n",
             omp_get_max_threads(), med, *std::min_element(times.begin(), times.end()), samples / med,
             ru.ru_maxrss / 1024.0);
  fmt::print("gemm floor median {:.3f} s  ratio descent/floor {:.2f}\n", fl, med / fl);
}
