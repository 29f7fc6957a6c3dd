// Cost of the training-health monitor on the reference MLP (784-256-256-10 ReLU, SGD lr 0.1
// momentum 0.9, batch 128, float32, Fashion-MNIST): the training step of the Trainer with and
// without diag::TrainingHealth at its default rate (monitor every 20 steps, finite check and
// divergence guard every step, snapshot every 50 steps).
//
// The machines are noisy, so both variants run in the same process on the same model, in
// alternating chunks of steps (base, monitored, guard-only, base, ...), and the ratio of their
// total times is printed, with the median of the per-round ratios (neighbouring chunks, so a slow
// minute hurts both) in wall time and in process CPU time (with threads = 1 the CPU time does not
// count the time another process held the core). Target: monitored / base <= 1.05.
//
//   build/bench/bench_health [rounds=12] [chunk=100 steps] [threads=0 (all cores)] [every=20]
//
// `every` sets the monitored variant's [health] every (1: every step is monitored, which shows the
// cost of one monitored step).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <vector>

#include "bench_util.h"
#include "descent/descent.h"
#include "descent/diag.h"

using namespace descent;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int64_t rounds = argc > 1 ? std::atoll(argv[1]) : 12;
  const int64_t chunk = argc > 2 ? std::atoll(argv[2]) : 100;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  const int64_t every = argc > 4 ? std::atoll(argv[4]) : diag::HealthOptions{}.every;
  if (threads > 0) omp_set_num_threads(threads);

  data::PreparedData d = data::prepare({.name = "fashion-mnist"});
  data::Loader loader(d.train, {.batch_size = 128, .shuffle = true, .seed = 0, .flatten = true}, d.train_indices);
  ModelConfig mc;
  mc.input_shape = {784};
  for (const auto& [type, out] : {std::pair<const char*, int64_t>{"linear", 256}, {"relu", 0}, {"linear", 256}, {"relu", 0},
                                  {"linear", 10}}) {
    Args a("bench");
    a.set("type", std::string(type));
    if (out > 0) a.set("out_features", out);
    mc.layers.push_back(a);
  }
  auto model = nn::build_model(mc, DType::F32, 0);
  optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  Args la("bench");
  la.set("type", std::string("cross_entropy"));
  auto loss = loss::make_loss(la);

  diag::TrainingHealth health(*model, opt, *loss, {.every = every});  // otherwise the defaults of [health]
  health.start("", nullptr);
  diag::TrainingHealth guard_only(*model, opt, *loss, {.enabled = false});
  guard_only.start("", nullptr);

  int64_t epoch = 0, monitored_steps = 0, guarded_steps = 0;
  loader.start_epoch(epoch);
  data::Batch b;
  auto next = [&]() {
    while (!loader.next(b)) loader.start_epoch(++epoch);
  };
  // One Trainer step; `h` = the health object driven around it (null: none).
  double cpu = 0;  // CPU seconds of the last chunk
  auto run = [&](diag::TrainingHealth* h, int64_t& h_step) {
    const double c0 = bench::cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < chunk; ++i) {
      next();
      if (h) h->begin_step(++h_step, epoch + 1);
      Tensor l = (*loss)((*model)(b.x), b.y);
      opt.zero_grad();
      l.backward();
      if (h && h->after_backward(l.item(), b.x, b.y) != diag::StepAction::Update) continue;
      if (!h) (void)l.item();  // the Trainer reads the loss either way
      opt.step();
      if (h) h->after_update();
    }
    cpu = bench::cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  int64_t none = 0;
  run(nullptr, none);  // warm-up: allocator caches, oneDNN primitives
  std::vector<double> base, mon, grd, cbase, cmon, cgrd, rmon, rgrd, rcmon, rcgrd;
  for (int64_t r = 0; r < rounds; ++r) {
    base.push_back(run(nullptr, none)), cbase.push_back(cpu);
    mon.push_back(run(&health, monitored_steps)), cmon.push_back(cpu);
    grd.push_back(run(&guard_only, guarded_steps)), cgrd.push_back(cpu);
    rmon.push_back(mon.back() / base.back()), rgrd.push_back(grd.back() / base.back());
    rcmon.push_back(cmon.back() / cbase.back()), rcgrd.push_back(cgrd.back() / cbase.back());
  }
  double sb = 0, sm = 0, sg = 0;
  for (int64_t r = 0; r < rounds; ++r) sb += base[r], sm += mon[r], sg += grd[r];
  fmt::print("MLP 784-256-256-10, batch 128, {} threads, {} rounds of {} steps per variant\n", omp_get_max_threads(),
             rounds, chunk);
  fmt::print("  base (no health)          {:8.3f} ms/step (median chunk {:.3f})\n", 1e3 * sb / double(rounds * chunk),
             1e3 * bench::median(base) / double(chunk));
  fmt::print("  guard + finite check only {:8.3f} ms/step (median chunk {:.3f})\n", 1e3 * sg / double(rounds * chunk),
             1e3 * bench::median(grd) / double(chunk));
  fmt::print("  monitor (every {:3d} steps) {:7.3f} ms/step (median chunk {:.3f})\n", every, 1e3 * sm / double(rounds * chunk),
             1e3 * bench::median(mon) / double(chunk));
  fmt::print("ratio monitored / base: {:.4f} (median of chunks {:.4f}); guard only / base: {:.4f}  (target <= 1.05)\n",
             sm / sb, bench::median(mon) / bench::median(base), sg / sb);
  fmt::print("median of per-round ratios, wall: monitored {:.4f}, guard only {:.4f}; CPU time: monitored {:.4f}, "
             "guard only {:.4f}\n",
             bench::median(rmon), bench::median(rgrd), bench::median(rcmon), bench::median(rcgrd));
  fmt::print("verdicts fired: {}, rollbacks: {}\n", health.verdicts().size(), health.rollbacks());
  return 0;
}
