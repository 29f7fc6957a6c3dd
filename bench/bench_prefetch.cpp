// Does the prefetching loader take data time out of the training step? (issue 11: with the
// loader, the step time of the Fashion-MNIST CNN must equal the step time on pre-made batches
// within 3%.)
//
// The CNN of examples/fashion_cnn.toml (conv32-pool-conv64-pool-fc128-fc10, SGD lr 0.1 momentum
// 0.9, batch 128, float32) trains blocks of `steps` steps, taking its batches
//   premade:  from a vector filled before timing (the same batches the loaders give: made by a
//             synchronous loader with the same seed), so no data work happens in the timed loop;
//   prefetch: from a Loader with prefetch = true (a background thread makes the next batches);
//   sync:     from a Loader without prefetch (each batch made on the training thread), to show
//             how much there is to hide.
// Each run times one block of each, in an order that rotates from run to run (so drift in the
// machine's load does not favour one), all on the same model. Reported: median step time of each
// over the runs, and the median over runs of the per-run ratio prefetch/premade (adjacent blocks,
// so less sensitive to load changes than the ratio of medians), and the median time per step
// spent inside loader.next() — the data time left in the step, which, unlike the step time, a
// loaded machine hardly blurs, and the training thread's CPU time per step (with threads=1 the
// whole step's work: equal for the three when handing over a batch costs the step nothing). With
// `aug` the loaders also do
// the augmentation of examples/fashion_cnn_aug.toml (crop with padding 2, flip, translation 2),
// which costs more per batch; the pre-made batches are the augmented ones.
//
//   bench_prefetch [steps=40] [runs=9] [threads=2] [aug=0|1]
//
// Needs dataset-fashion-mnist. Prints one RESULT line.
#include <fmt/format.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "bench_util.h"
#include "descent/descent.h"

using namespace descent;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 40;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 9;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const bool aug = argc > 4 && std::atoi(argv[4]) != 0;
  if (steps < 1 || runs < 1 || threads < 1) {
    fmt::print(stderr, "usage: {} [steps=40] [runs=9] [threads=2] [aug=0|1]\n", argv[0]);
    return 2;
  }
  omp_set_num_threads(threads);

  data::PreparedData d = data::prepare({.name = "fashion-mnist"});
  data::LoaderOptions lo{.batch_size = 128, .shuffle = true, .seed = 0};
  if (aug) lo.augment = {.crop_padding = 2, .horizontal_flip = true, .max_translation = 2};
  data::LoaderOptions po = lo;
  po.prefetch = true;
  data::Loader sync(d.train, lo), prefetch(d.train, po);
  if (sync.num_batches() < steps) {
    fmt::print(stderr, "steps must be at most {} (batches per epoch)\n", sync.num_batches());
    return 2;
  }

  // The pre-made batches: exactly the first `steps` batches of epoch 0, which both loaders serve.
  std::vector<data::Batch> premade(static_cast<size_t>(steps));
  sync.start_epoch(0);
  for (auto& b : premade) sync.next(b);

  auto net = bench::reference_cnn();
  optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});
  net->train();
  double sink = 0;  // the losses, so no step is optimized away
  auto step = [&](const data::Batch& b) {
    Tensor l = ops::cross_entropy((*net)(b.x), b.y);
    opt.zero_grad();
    l.backward();
    opt.step();
    sink += l.item();
  };
  // Seconds per step of one block; `cpu` gets the training thread's CPU seconds per step.
  auto block_premade = [&](double& cpu) {
    const double c0 = bench::cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    auto t0 = Clock::now();
    for (const auto& b : premade) step(b);
    cpu = (bench::cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / steps;
    return std::chrono::duration<double>(Clock::now() - t0).count() / steps;
  };
  // Also adds to `wait` the seconds per step spent inside loader.next(): the data time the step
  // still sees (for the sync loader: the whole batch making).
  auto block_loader = [&](data::Loader& loader, double& wait, double& cpu) {
    loader.start_epoch(0);  // same batches as premade; a prefetch loader starts making them here
    const double c0 = bench::cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    auto t0 = Clock::now();
    double in_next = 0;
    data::Batch b;
    for (int i = 0; i < steps; ++i) {
      auto n0 = Clock::now();
      loader.next(b);
      const double w = std::chrono::duration<double>(Clock::now() - n0).count();
      in_next += w;
      step(b);
    }
    wait = in_next / steps;
    cpu = (bench::cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / steps;
    return std::chrono::duration<double>(Clock::now() - t0).count() / steps;
  };

  double w_pf = 0, w_sync = 0, c_pre = 0, c_pf = 0, c_sync = 0;
  block_premade(c_pre);  // warm-up: primitive caches, allocator, page faults
  block_loader(prefetch, w_pf, c_pf);
  block_loader(sync, w_sync, c_sync);

  std::vector<double> t_pre, t_pf, t_sync, ratio_pf, ratio_sync, wait_pf, wait_sync, cpu_pre, cpu_pf, cpu_sync;
  for (int r = 0; r < runs; ++r) {
    double pre = 0, pf = 0, sy = 0;
    for (int k = 0; k < 3; ++k) {  // rotate the order: run r starts with variant r % 3
      switch ((r + k) % 3) {
        case 0: pre = block_premade(c_pre); break;
        case 1: pf = block_loader(prefetch, w_pf, c_pf); break;
        default: sy = block_loader(sync, w_sync, c_sync); break;
      }
    }
    t_pre.push_back(pre), t_pf.push_back(pf), t_sync.push_back(sy);
    ratio_pf.push_back(pf / pre), ratio_sync.push_back(sy / pre);
    wait_pf.push_back(w_pf), wait_sync.push_back(w_sync);
    cpu_pre.push_back(c_pre), cpu_pf.push_back(c_pf), cpu_sync.push_back(c_sync);
    fmt::print("run {}: premade {:.3f} ms  prefetch {:.3f} ms (in next {:.4f} ms)  sync {:.3f} ms (in next {:.4f} ms)  "
               "prefetch/premade {:.4f}\n",
               r + 1, 1e3 * pre, 1e3 * pf, 1e3 * w_pf, 1e3 * sy, 1e3 * w_sync, pf / pre);
    std::fflush(stdout);
  }
  const double mp = bench::median(t_pre), mf = bench::median(t_pf), ms = bench::median(t_sync);
  fmt::print(
      "RESULT model=cnn batch=128 threads={} aug={} steps={} runs={} premade_ms={:.3f} prefetch_ms={:.3f} sync_ms={:.3f} "
      "ratio_prefetch_premade={:.4f} (median of per-run ratios; of medians {:.4f}) ratio_sync_premade={:.4f} "
      "prefetch_next_ms={:.4f} sync_next_ms={:.4f} prefetch_next_share={:.5f} thread_cpu_ms premade={:.3f} prefetch={:.3f} "
      "sync={:.3f} loss_sum={:.3f}\n",
      threads, aug ? 1 : 0, steps, runs, 1e3 * mp, 1e3 * mf, 1e3 * ms, bench::median(ratio_pf), mf / mp, bench::median(ratio_sync),
      1e3 * bench::median(wait_pf), 1e3 * bench::median(wait_sync), bench::median(wait_pf) / mp, 1e3 * bench::median(cpu_pre), 1e3 * bench::median(cpu_pf),
      1e3 * bench::median(cpu_sync), sink);
}
