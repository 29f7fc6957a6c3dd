// The batch loader: a permutation per epoch, then gather + convert per batch.
#include <fmt/format.h>

#include <numeric>

#include "data/gather.h"
#include "descent/data.h"

namespace descent::data {

struct Loader::Impl {
  Tensor inputs, targets;
  Shape sample_shape;
  Task task = Task::Classification;
  int64_t row = 0;                 // elements per input sample
  int64_t target_row = 0;          // elements per target (regression)
  LoaderOptions options;
  std::vector<int64_t> indices;    // the subset, in the caller's order
  std::vector<int64_t> order;      // this epoch's order
  int64_t epoch = 0;
  int64_t position = 0;

  void make_order() {
    order = indices;
    if (!options.shuffle) return;
    Generator gen(derive_seed(options.seed, static_cast<uint64_t>(epoch)));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  }
};

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
  Impl& m = *impl_;
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
  m.options = options;
  if (indices.empty()) {
    indices.resize(static_cast<size_t>(dataset.size()));
    std::iota(indices.begin(), indices.end(), int64_t{0});
  } else {
    check_indices(indices, dataset.size(), "loader");
  }
  m.indices = std::move(indices);
  start_epoch(0);
}

Loader::~Loader() = default;
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;

int64_t Loader::num_samples() const { return static_cast<int64_t>(impl_->indices.size()); }

int64_t Loader::num_batches() const {
  const int64_t n = num_samples(), b = impl_->options.batch_size;
  return impl_->options.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::start_epoch(int64_t epoch) {
  if (epoch < 0) throw Error(fmt::format("data: epoch must be non-negative, got {}", epoch));
  impl_->epoch = epoch;
  impl_->position = 0;
  impl_->make_order();
}

bool Loader::next(Batch& out) {
  Impl& m = *impl_;
  const int64_t remaining = num_samples() - m.position;
  if (remaining <= 0 || (m.options.drop_last && remaining < m.options.batch_size)) return false;
  const int64_t count = std::min(remaining, m.options.batch_size);
  const int64_t* idx = m.order.data() + m.position;

  Shape xs = m.options.flatten ? Shape{count, m.row} : Shape{count};
  if (!m.options.flatten) xs.insert(xs.end(), m.sample_shape.begin(), m.sample_shape.end());
  out.x = empty(xs, m.options.dtype);
  gather_convert(m.inputs, idx, count, m.row, m.options.scale, out.x);

  if (m.task == Task::Classification) {
    out.y = empty({count}, DType::I64);
    const int64_t* y = m.targets.data<int64_t>();
    int64_t* d = out.y.data<int64_t>();
    for (int64_t b = 0; b < count; ++b) d[b] = y[idx[b]];
  } else {
    // Binary targets feed BCE, regression targets MSE: both want the model's float type.
    out.y = empty({count, m.target_row}, m.options.dtype);
    if (m.targets.dtype() == DType::I64) {
      const int64_t* y = m.targets.data<int64_t>();
      if (m.options.dtype == DType::F32) {
        float* d = out.y.data<float>();
        for (int64_t b = 0; b < count; ++b) d[b] = static_cast<float>(y[idx[b]]);
      } else {
        double* d = out.y.data<double>();
        for (int64_t b = 0; b < count; ++b) d[b] = static_cast<double>(y[idx[b]]);
      }
    } else {
      gather_convert(m.targets, idx, count, m.target_row, 1.0, out.y);
    }
  }
  m.position += count;
  return true;
}

LoaderState Loader::state() const {
  return {.epoch = impl_->epoch, .position = impl_->position, .seed = impl_->options.seed, .num_samples = num_samples()};
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
  impl_->options.seed = s.seed;
  start_epoch(s.epoch);
  impl_->position = s.position;
}

const std::vector<int64_t>& Loader::order() const { return impl_->order; }

}  // namespace descent::data
