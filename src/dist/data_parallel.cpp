// DataParallel: one rank's part of a data-parallel training step (see descent/dist.h).
#include <fmt/format.h>

#include <cstring>

#include "descent/autograd.h"
#include "descent/dist.h"
#include "dist/buckets.h"
#include "ops/norm_sync.h"

namespace descent::dist {

DistributedOptions parse_distributed(const Args& a) {
  DistributedOptions o;
  o.bucket_mb = a.get_double("bucket_mb", o.bucket_mb);
  o.sync_batchnorm = a.get_bool("sync_batchnorm", o.sync_batchnorm);
  o.overlap = a.get_bool("overlap", o.overlap);
  if (!(o.bucket_mb > 0))
    throw Error(fmt::format("{}: bucket_mb must be positive (MiB of gradients per all-reduce), got {}", a.where(), o.bucket_mb));
  return o;
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}

namespace {
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  if (!t.defined() || (begin == 0 && end == t.size(0))) return t;
  Shape s = t.shape();
  s[0] = end - begin;
  Tensor out = empty(s, t.dtype());
  const size_t row = static_cast<size_t>(shape_numel(s) / std::max<int64_t>(s[0], 1)) * dtype_size(t.dtype());
  if (end > begin)
    std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + static_cast<size_t>(begin) * row,
                static_cast<size_t>(end - begin) * row);
  return out;
}

uint64_t hash_bytes(uint64_t h, const void* p, size_t n) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

// Restores the previous autograd and batch-norm hooks even when a step throws.
struct HookScope {
  GradReadyHook previous;
  HookScope(GradReadyHook hook, ops::BatchNormSync sync) : previous(set_grad_ready_hook(std::move(hook))) {
    ops::set_batch_norm_sync(std::move(sync));
  }
  ~HookScope() {
    set_grad_ready_hook(std::move(previous));
    ops::set_batch_norm_sync({});
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;
};
}  // namespace

data::Batch slice_batch(const data::Batch& b, int64_t begin, int64_t end) {
  return data::Batch{.x = rows(b.x, begin, end), .y = rows(b.y, begin, end)};
}

void decorrelate_dropout(nn::Module& m, int rank) {
  if (rank == 0) return;
  if (auto* d = dynamic_cast<nn::Dropout*>(&m)) d->generator() = Generator(data::derive_seed(d->generator().next_u64(), static_cast<uint64_t>(rank)));
  for (auto& [name, child] : m.children()) decorrelate_dropout(*child, rank);
}

struct DataParallel::Impl {
  std::shared_ptr<Communicator> comm;
  nn::Module* model = nullptr;
  DistributedOptions opt;
  bool sum_reduction = false;          // [loss] reduction = "sum": shares are 1
  std::vector<double> class_weights;   // cross_entropy weight: a shard's share is its Σ w[y]
  std::unique_ptr<GradBuckets> buckets;
  std::vector<double> metrics = std::vector<double>(3);
  int64_t steps = 0;
};

DataParallel::DataParallel(std::shared_ptr<Communicator> comm, nn::Module& model, const Args& loss_spec,
                           const DistributedOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.comm = std::move(comm);
  s.model = &model;
  s.opt = options;
  s.sum_reduction = loss_spec.get_string("reduction", "mean") == "sum";
  if (loss_spec.get_string("type", "cross_entropy") == "cross_entropy" && loss_spec.has("weight"))
    s.class_weights = loss_spec.get_doubles("weight");
  s.buckets = std::make_unique<GradBuckets>(*s.comm, model.parameters(), options.bucket_mb, options.overlap);
}

DataParallel::~DataParallel() = default;
Communicator& DataParallel::comm() { return *impl_->comm; }
const std::vector<std::vector<size_t>>& DataParallel::buckets() const { return impl_->buckets->layout(); }
size_t DataParallel::buckets_started_during_backward() const { return impl_->buckets->started_early(); }

void DataParallel::broadcast_parameters() {
  for (auto& [name, t] : impl_->model->state_dict()) impl_->comm->broadcast(t, 0);
}

void DataParallel::average_buffers() {
  for (auto& [name, t] : impl_->model->named_buffers()) {
    if (is_floating(t.dtype())) impl_->comm->allreduce(t, ReduceOp::Mean);
    else impl_->comm->broadcast(t, 0);  // counters (num_batches_tracked) agree already
  }
}

void DataParallel::check_parameters_equal() {
  Impl& s = *impl_;
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, t] : s.model->state_dict())
    h = hash_bytes(h, t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  const std::vector<uint64_t> all = s.comm->allgather(h);
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw AgreedError(fmt::format("the model on rank {} differs from rank 0's after {} data-parallel steps (the "
                                    "ranks must run the same build, config and data)", r, s.steps),
                        static_cast<int>(r), false);
}

double DataParallel::shard_weight(const Tensor& y, int64_t begin, int64_t end) const {
  const Impl& s = *impl_;
  if (s.sum_reduction) return 1.0;  // the global loss is the sum of the shards' sums
  const int64_t n = y.size(0);
  if (s.class_weights.empty() || y.dtype() != DType::I64)  // a mean over samples (or their elements)
    return n > 0 ? static_cast<double>(end - begin) / static_cast<double>(n) : 0.0;
  // torch's weighted mean divides by Σ w[y_i]: a shard's share is its part of that sum
  const int64_t* p = y.data<int64_t>();
  const int64_t c = static_cast<int64_t>(s.class_weights.size());
  double part = 0.0, total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = p[i] >= 0 && p[i] < c ? s.class_weights[static_cast<size_t>(p[i])] : 0.0;
    total += w;
    if (i >= begin && i < end) part += w;
  }
  return total > 0 ? part / total : 0.0;
}

StepStats DataParallel::step(const data::Batch& global, const std::function<ShardOutput(const data::Batch&)>& forward) {
  Impl& s = *impl_;
  Communicator& comm = *s.comm;
  const int64_t n = global.x.size(0);
  const auto [begin, end] = shard_range(n, comm.rank(), comm.size());
  // Every rank knows n: all of them reach this error together, before any collective.
  if (s.opt.sync_batchnorm && n < comm.size())
    throw AgreedError(fmt::format("[distributed] sync_batchnorm: a batch of {} samples leaves a rank of {} without "
                                  "samples; choose batch_size so that the last batch of an epoch has at least {}",
                                  n, comm.size(), comm.size()),
                      0, true);
  const double weight = shard_weight(global.y, begin, end);

  ops::BatchNormSync sync;
  if (s.opt.sync_batchnorm) {
    sync.stat_sum = [&comm](double* v, int64_t k) { comm.allreduce(v, k, DType::F64, ReduceOp::Sum); };
    sync.grad_sum = [&comm, weight](double* v, int64_t k) {  // see ops/norm_sync.h
      for (int64_t i = 0; i < k; ++i) v[i] *= weight;
      comm.allreduce(v, k, DType::F64, ReduceOp::Sum);
      for (int64_t i = 0; i < k; ++i) v[i] = weight > 0 ? v[i] / weight : 0.0;
    };
  }
  GradBuckets& buckets = *s.buckets;
  HookScope hooks([&buckets](const Tensor& leaf) { buckets.on_ready(leaf); }, std::move(sync));

  ShardOutput out;
  if (end > begin) out = forward(slice_batch(global, begin, end));
  s.metrics = {out.loss.defined() ? weight * out.loss.item() : 0.0, out.correct, static_cast<double>(end - begin)};
  std::unique_ptr<Request> metrics = comm.iallreduce(s.metrics.data(), 3, DType::F64, ReduceOp::Sum);
  buckets.begin(weight);
  Tensor objective = out.loss;
  if (out.shared.defined() && weight > 0) {
    // Rank r's gradient is scaled by its share s_r before the sum; adding shared / (K s_r) on each
    // of the K ranks with a share counts the shared term once, as in the one-process loss.
    int sharing = 0;
    for (int r = 0; r < comm.size(); ++r) {
      auto [b, e] = shard_range(n, r, comm.size());
      sharing += e > b && shard_weight(global.y, b, e) > 0;
    }
    objective = objective + out.shared * (1.0 / (sharing * weight));
  }
  if (objective.defined()) objective.backward();
  buckets.finish();
  metrics->wait();
  ++s.steps;
  return StepStats{.loss = s.metrics[0], .correct = s.metrics[1], .samples = static_cast<int64_t>(s.metrics[2])};
}

}  // namespace descent::dist
