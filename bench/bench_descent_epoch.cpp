// descent's side of bench/compare.sh: the reference MLP or CNN under the peers' protocol
// (bench/peers/), printing the same per-epoch lines and RESULT line as they do, so the script
// compares like with like. bench_mlp_epoch stays the quick MLP-only benchmark; this one adds the
// CNN, test accuracy, per-epoch CPU time and minor faults.
//
// Protocol: Fashion-MNIST (Debian package), pixels scaled to [0, 1] (descent keeps the dataset as
// uint8 and converts per batch, which is inside the timed loop — the peers convert up front);
// SGD lr 0.1 momentum 0.9, batch 128, cross-entropy, seed 0, reshuffled every epoch, last partial
// batch kept, float32. Only the training loop is timed; epoch time = median of epochs
// 2..min(epochs, 5). For the MLP it also measures, in the same process after training, the GEMM
// floor: exactly the GEMMs of one epoch through the same dnnl_sgemm, nothing else.
//
//   bench_descent_epoch mlp|cnn [epochs=10 (mlp) / 3 (cnn)] [threads=2] [floor_reps=3 (0: no floor,
//                                                                     e.g. to profile training alone)]
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "bench_util.h"
#include "descent/descent.h"
#include "kernels/gemm.h"

using namespace descent;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "mlp") != 0 && std::strcmp(argv[1], "cnn") != 0)) {
    fmt::print(stderr, "usage: {} mlp|cnn [epochs] [threads=2] [floor_reps=3]\n", argv[0]);
    return 2;
  }
  const bool cnn = std::strcmp(argv[1], "cnn") == 0;
  const int epochs = argc > 2 ? std::atoi(argv[2]) : (cnn ? 3 : 10);
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const int floor_reps = argc > 4 ? std::atoi(argv[4]) : 3;
  omp_set_num_threads(threads);

  data::PreparedData d = data::prepare({.name = "fashion-mnist"});
  data::Loader train(d.train, {.batch_size = 128, .shuffle = true, .seed = 0, .flatten = !cnn});
  data::Loader test(d.test, {.batch_size = 1000, .shuffle = false, .flatten = !cnn});
  const int64_t samples = train.num_samples();

  auto net = cnn ? bench::reference_cnn() : bench::reference_mlp();
  optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});

  std::vector<double> times, cpus, faults;
  for (int e = 0; e < epochs; ++e) {
    net->train();
    train.start_epoch(e);
    rusage r0{}, r1{};
    getrusage(RUSAGE_SELF, &r0);
    auto t0 = Clock::now();
    double loss_sum = 0;
    int64_t steps = 0;
    for (data::Batch b; train.next(b);) {
      Tensor l = ops::cross_entropy((*net)(b.x), b.y);
      opt.zero_grad();
      l.backward();
      opt.step();
      loss_sum += l.item(), ++steps;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    getrusage(RUSAGE_SELF, &r1);
    const double cpu = seconds(r1.ru_utime) + seconds(r1.ru_stime) - seconds(r0.ru_utime) - seconds(r0.ru_stime);
    const long flt = r1.ru_minflt - r0.ru_minflt;
    fmt::print("epoch {}: {:.3f} s  ({:.0f} samples/s)  cpu {:.3f} s  minflt {}  loss {:.4f}\n", e + 1, secs,
               samples / secs, cpu, flt, loss_sum / steps);
    std::fflush(stdout);
    if (e >= 1 && e <= 4) times.push_back(secs), cpus.push_back(cpu), faults.push_back(double(flt));
  }

  int64_t correct = 0, seen = 0;
  {
    NoGradGuard no_grad;
    net->eval();
    test.start_epoch(0);
    for (data::Batch b; test.next(b);) {
      correct += static_cast<int64_t>(std::lround(train::accuracy((*net)(b.x), b.y) * double(b.y.size(0))));
      seen += b.y.size(0);
    }
  }

  const double med = bench::median(times);
  const double mn = times.empty() ? 0.0 : *std::min_element(times.begin(), times.end());
  if (!cnn && floor_reps > 0) {  // the floor is as noisy as the epochs: take a median
    std::vector<double> floors;
    for (int i = 0; i < floor_reps; ++i) floors.push_back(bench::gemm_floor_epoch(samples, 128));
    const double fl = bench::median(floors);
    fmt::print("FLOOR gemm_floor_s={:.4f} ratio_descent_floor={:.2f}\n", fl, med / fl);
  }
  fmt::print(
      "RESULT impl=descent model={} threads={} epochs={} median_s={:.4f} min_s={:.4f} samples_per_s={:.0f} "
      "cpu_s={:.4f} minflt_per_epoch={:.0f} test_acc={:.4f} blas=onednn\n",
      cnn ? "cnn" : "mlp", threads, epochs, med, mn, med > 0 ? samples / med : 0.0, bench::median(cpus), bench::median(faults),
      seen ? double(correct) / double(seen) : 0.0);
}
