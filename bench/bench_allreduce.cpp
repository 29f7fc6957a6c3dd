// The gradient all-reduce of data-parallel training, per step, for the MLP and the BN CNN of
// examples/ (fashion_mlp.toml, fashion_cnn_bn.toml). Run under MPI:
//
//   mpirun -n 2 --oversubscribe [--mca pml ob1 --mca btl self,vader|self,tcp]
//          build/bench/bench_allreduce [steps=30] [global_batch=128] [examples_dir=examples] [bucket_mb=1]
//
// For each model it measures, on real forward/backward steps (each rank one OpenMP thread, its
// half of the global batch of random inputs):
//   compute    forward + backward of the shard, no communication (the floor);
//   one-shot   the same, then one all-reduce of every gradient after backward;
//   buckets    the same, buckets of [distributed] bucket_mb all-reduced after backward;
//   overlap    buckets started during backward as their gradients become final (what training does);
// and the pure all-reduce time of the gradient bytes, one message vs the buckets. Times are the
// slowest rank's per step: the minimum over the steps (a step neither rank lost its core in) and
// the median; on a shared machine a collective waits whenever the other rank is descheduled, so
// compare the minima, and ratios rather than absolute times.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "descent/descent.h"
#include "descent/dist.h"

using namespace descent;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
  double min = 0, median = 0;  // ms
};

// The slowest rank's time of `fn` per step: minimum and median over the steps.
Timing time_steps(dist::Communicator& comm, int steps, const std::function<void()>& fn) {
  fn();  // warm-up: caching allocator, first-touch, MPI connections
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    comm.barrier();
    auto t0 = Clock::now();
    fn();
    ms.push_back(comm.allreduce(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), dist::ReduceOp::Max));
  }
  std::sort(ms.begin(), ms.end());
  return {ms.front(), ms[ms.size() / 2]};
}

std::string show(const Timing& t) { return fmt::format("{:8.3f} ms (median {:8.3f})", t.min, t.median); }

void bench_model(dist::Communicator& comm, const std::string& dir, const std::string& config, int steps,
                 int64_t global_batch, double bucket_mb) {
  Config cfg = load_config(dir + "/" + config);
  auto model = nn::build_model(cfg.model, DType::F32, 0);
  auto loss = loss::make_loss(cfg.loss);
  int64_t numel = 0;
  for (const Tensor& p : model->parameters()) numel += p.numel();
  const double mb = static_cast<double>(numel) * 4 / (1024.0 * 1024.0);

  Shape xs{global_batch};
  xs.insert(xs.end(), cfg.model.input_shape.begin(), cfg.model.input_shape.end());
  Generator gen(1);
  data::Batch batch{.x = uniform(xs, 0.0, 1.0, gen), .y = zeros({global_batch}, DType::I64)};
  for (int64_t i = 0; i < global_batch; ++i) batch.y.data<int64_t>()[i] = i % 10;
  auto forward = [&](const data::Batch& part) { return dist::ShardOutput{.loss = (*loss)(model->forward(part.x), part.y)}; };
  auto zero = [&] { for (const Tensor& p : model->parameters()) p.set_grad(Tensor()); };

  auto [b, e] = dist::shard_range(global_batch, comm.rank(), comm.size());
  const data::Batch shard = dist::slice_batch(batch, b, e);
  const Timing compute = time_steps(comm, steps, [&] { zero(); forward(shard).loss.backward(); });
  auto step_with = [&](dist::DistributedOptions o) {
    dist::DataParallel dp(dist::world_handle(), *model, cfg.loss, o);
    Timing t = time_steps(comm, steps, [&] { zero(); dp.step(batch, forward); });
    return std::make_pair(t, fmt::format("{} msg, {} started in backward", dp.buckets().size(),
                                         dp.buckets_started_during_backward()));
  };
  auto [one_shot, n1] = step_with({.bucket_mb = 1e6, .overlap = false});
  auto [after, nb] = step_with({.bucket_mb = bucket_mb, .overlap = false});
  auto [overlap, no] = step_with({.bucket_mb = bucket_mb, .overlap = true});

  // Pure communication: the gradient bytes as one message, and as the buckets' messages.
  std::vector<float> flat(static_cast<size_t>(numel), 1.0f);
  const Timing one_msg = time_steps(comm, steps, [&] { comm.allreduce(flat.data(), numel, DType::F32, dist::ReduceOp::Sum); });
  dist::DataParallel layout(dist::world_handle(), *model, cfg.loss, {.bucket_mb = bucket_mb});
  std::vector<int64_t> sizes;
  auto params = model->parameters();
  for (const auto& bucket : layout.buckets()) {
    int64_t n = 0;
    for (size_t k : bucket) n += params[k].numel();
    sizes.push_back(n);
  }
  const Timing bucket_msgs = time_steps(comm, steps, [&] {
    int64_t at = 0;
    for (int64_t n : sizes) comm.allreduce(flat.data() + at, n, DType::F32, dist::ReduceOp::Sum), at += n;
  });
  if (comm.rank() != 0) return;
  fmt::print("\n{}: {} parameters ({:.2f} MiB of float32 gradients), global batch {}, {} ranks\n", config, numel, mb,
             global_batch, comm.size());
  fmt::print("  all-reduce alone, one message          {}  {:6.0f} MB/s\n", show(one_msg), mb * 1.048576e3 / one_msg.min);
  fmt::print("  all-reduce alone, {} bucket(s) <= {} MiB  {}  {:.2f}x\n", sizes.size(), bucket_mb, show(bucket_msgs),
             bucket_msgs.min / one_msg.min);
  fmt::print("  step: compute only (fwd+bwd)           {}\n", show(compute));
  const double base = one_shot.min - compute.min;  // what one-shot leaves exposed
  auto row = [&](const char* what, const Timing& t, const std::string& msgs) {
    const double exposed = t.min - compute.min;
    fmt::print("  step: {:<32} {}  comm exposed {:7.3f} ms  {}  ({})\n", what, show(t), exposed,
               base > 0.05 ? fmt::format("{:.2f}x of one-shot", exposed / base) : std::string("(one-shot: below noise)"), msgs);
  };
  row("one-shot after backward", one_shot, n1);
  row("buckets after backward", after, nb);
  row("buckets during backward", overlap, no);
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(argc, argv);
  dist::Communicator& comm = dist::world();
  const int steps = argc > 1 ? std::atoi(argv[1]) : 30;
  const int64_t global_batch = argc > 2 ? std::atoll(argv[2]) : 128;
  const std::string examples = argc > 3 ? argv[3] : "examples";
  const double bucket_mb = argc > 4 ? std::atof(argv[4]) : dist::DistributedOptions{}.bucket_mb;
  omp_set_num_threads(1);
  if (comm.rank() == 0)
    fmt::print("bench_allreduce: {} ranks over {} ({}), {} steps, the slowest rank per step\n", comm.size(),
               comm.name(), dist::mpi_built() ? "MPI built" : "no MPI in the build", steps);
  try {
    bench_model(comm, examples, "fashion_mlp.toml", steps, global_batch, bucket_mb);
    bench_model(comm, examples, "fashion_cnn_bn.toml", steps, global_batch, bucket_mb);
  } catch (const std::exception& e) {
    dist::report_fatal(comm, std::string("error: ") + e.what(), 1);
    return 1;
  }
  return 0;
}
