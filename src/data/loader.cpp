// The batch loader: a permutation per epoch, then gather + convert (+ augment) per batch, either
// on the caller's thread or ahead of it on a background thread (prefetch.cpp).
#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "data/gather.h"
#include "data/loader_impl.h"

namespace descent::data {
namespace {

// Unimputed missing values would turn the first loss into NaN many steps away from the cause.
void check_no_nan(const Dataset& ds) {
  if (ds.inputs.dtype() != DType::F32 && ds.inputs.dtype() != DType::F64) return;
  const std::vector<double> v = ds.inputs.dtype() == DType::F64 ? std::vector<double>() : ds.inputs.to_vector();
  const double* p = ds.inputs.dtype() == DType::F64 ? ds.inputs.data<double>() : v.data();
  const int64_t n = ds.inputs.numel(), row = n / std::max<int64_t>(ds.size(), 1);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isnan(p[i])) continue;
    const auto f = static_cast<size_t>(i % row);
    std::string name = f < ds.feature_names.size() ? "'" + ds.feature_names[f] + "'" : std::to_string(f);
    throw Error(fmt::format("data: {}: input feature {} of sample {} is missing (NaN); fill it with missing = "
                            "\"mean\" (and a Standardizer) or \"constant\"",
                            ds.source.empty() ? "dataset" : ds.source, name, i / row));
  }
}

}  // namespace

int64_t LoaderCore::batch_at(int64_t pos) const {
  const int64_t remaining = static_cast<int64_t>(order.size()) - pos;
  if (remaining <= 0 || (options.drop_last && remaining < options.batch_size)) return 0;
  return std::min(remaining, options.batch_size);
}

void LoaderCore::make_order() {
  order = indices;
  if (!options.shuffle) return;
  Generator gen(derive_seed(options.seed, static_cast<uint64_t>(epoch)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
}

void LoaderCore::make_batch(int64_t pos, Batch& out) const {
  const int64_t count = batch_at(pos);
  const int64_t* idx = order.data() + pos;
  Shape xs = options.flatten ? Shape{count, row} : Shape{count};
  if (!options.flatten) xs.insert(xs.end(), sample_shape.begin(), sample_shape.end());
  out.x = empty(xs, options.dtype);
  gather_convert(inputs, idx, count, row, options.scale, out.x);
  if (options.augment.enabled()) {
    Generator gen(derive_seed(options.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(pos / options.batch_size) + 1));
    augment_batch(out.x, sample_shape, options.augment, gen);
  }
  if (task == Task::Classification) {
    out.y = empty({count}, DType::I64);
    const int64_t* y = targets.data<int64_t>();
    int64_t* d = out.y.data<int64_t>();
    for (int64_t b = 0; b < count; ++b) d[b] = y[idx[b]];
  } else if (targets.dtype() == DType::I64) {
    // Binary targets feed BCE, which wants the model's float type and the logits' [B, 1] shape.
    out.y = empty({count, 1}, options.dtype);
    const int64_t* y = targets.data<int64_t>();
    if (options.dtype == DType::F32) {
      float* d = out.y.data<float>();
      for (int64_t b = 0; b < count; ++b) d[b] = static_cast<float>(y[idx[b]]);
    } else {
      double* d = out.y.data<double>();
      for (int64_t b = 0; b < count; ++b) d[b] = static_cast<double>(y[idx[b]]);
    }
  } else {
    out.y = empty({count, target_row}, options.dtype);
    gather_convert(targets, idx, count, target_row, 1.0, out.y);
  }
}

Loader::Loader(const Dataset& dataset, const LoaderOptions& options, std::vector<int64_t> indices)
    : impl_(std::make_unique<Impl>()) {
  if (options.batch_size < 1) throw Error(fmt::format("data: batch_size must be positive, got {}", options.batch_size));
  if (!is_floating(options.dtype)) {
    throw Error(fmt::format("data: loader dtype must be float32 or float64, got {}", dtype_name(options.dtype)));
  }
  if (!dataset.inputs.defined() || !dataset.targets.defined()) throw Error("data: loader over an empty Dataset");
  if (dataset.targets.size(0) != dataset.size()) {
    throw Error(fmt::format("data: {} inputs but {} targets", dataset.size(), dataset.targets.size(0)));
  }
  LoaderCore& m = impl_->core;
  m.inputs = dataset.inputs;
  m.targets = dataset.targets;
  m.sample_shape = dataset.sample_shape;
  m.task = dataset.task;
  m.row = shape_numel(dataset.sample_shape);
  if (m.row * dataset.size() != dataset.inputs.numel()) {
    throw Error(fmt::format("data: sample shape {} does not match inputs {}", shape_str(dataset.sample_shape),
                            dataset.inputs.shape_str()));
  }
  m.target_row = dataset.size() > 0 ? dataset.targets.numel() / dataset.size() : 1;
  if (m.task != Task::Regression && dataset.targets.dtype() != DType::I64) {
    throw Error(fmt::format("data: {} targets must be int64, got {}", task_name(m.task),
                            dtype_name(dataset.targets.dtype())));
  }
  check_augment(options.augment, dataset.sample_shape);  // here, not on the first batch (maybe on the prefetch thread)
  check_no_nan(dataset);
  m.options = options;
  if (indices.empty()) {
    indices.resize(static_cast<size_t>(dataset.size()));
    std::iota(indices.begin(), indices.end(), int64_t{0});
  } else {
    check_indices(indices, dataset.size(), "loader");
  }
  m.indices = std::move(indices);
  if (options.prefetch) impl_->start_worker();
  start_epoch(0);
}

Loader::~Loader() = default;
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;

int64_t Loader::num_samples() const { return static_cast<int64_t>(impl_->core.indices.size()); }

int64_t Loader::num_batches() const {
  const int64_t n = num_samples(), b = impl_->core.options.batch_size;
  return impl_->core.options.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::start_epoch(int64_t epoch) {
  if (epoch < 0) throw Error(fmt::format("data: epoch must be non-negative, got {}", epoch));
  impl_->reset(epoch, 0, impl_->core.options.seed);
}

bool Loader::next(Batch& out) { return impl_->next(out); }

LoaderState Loader::state() const {
  return {.epoch = impl_->core.epoch, .position = impl_->position, .seed = impl_->core.options.seed,
          .num_samples = num_samples()};
}

void Loader::restore(const LoaderState& s) {
  if (s.num_samples != num_samples()) {
    throw Error(fmt::format("data: loader state is for {} samples per epoch, this loader has {}", s.num_samples,
                            num_samples()));
  }
  if (s.position < 0 || s.position > s.num_samples || s.epoch < 0) {
    throw Error(fmt::format("data: loader state has epoch {} position {} (of {} samples)", s.epoch, s.position,
                            s.num_samples));
  }
  impl_->reset(s.epoch, s.position, s.seed);
}

const std::vector<int64_t>& Loader::order() const { return impl_->core.order; }

}  // namespace descent::data
