// The bucketed gradient all-reduce (see buckets.h).
#include "dist/buckets.h"

#include <fmt/format.h>

#include <cstring>

namespace descent::dist {

GradBuckets::GradBuckets(Communicator& comm, std::vector<Tensor> params, double bucket_mb, bool overlap)
    : comm_(comm), params_(std::move(params)), overlap_(overlap) {
  if (!(bucket_mb > 0)) throw Error(fmt::format("[distributed] bucket_mb must be positive, got {}", bucket_mb));
  const double cap = bucket_mb * 1024 * 1024;
  bucket_of_.resize(params_.size());
  slot_of_.resize(params_.size());
  copied_.assign(params_.size(), false);
  double bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    if (!is_floating(p.dtype())) throw Error(fmt::format("dist: parameter {} is {}, not a float", k, dtype_name(p.dtype())));
    const double b = static_cast<double>(p.numel()) * static_cast<double>(dtype_size(p.dtype()));
    const bool fits = !layout_.empty() && bytes + b <= cap && params_[layout_.back().front()].dtype() == p.dtype();
    if (!fits) {
      layout_.emplace_back();
      bytes = 0;
    }
    layout_.back().push_back(k);
    bytes += b;
    index_[p.impl().get()] = k;
  }
  for (size_t i = 0; i < layout_.size(); ++i) {
    Bucket b;
    b.params = layout_[i];
    int64_t n = 0;
    for (size_t j = 0; j < b.params.size(); ++j) {
      bucket_of_[b.params[j]] = i;
      slot_of_[b.params[j]] = j;
      b.offsets.push_back(n);
      n += params_[b.params[j]].numel();
    }
    b.flat = empty({n}, params_[b.params.front()].dtype());
    buckets_.push_back(std::move(b));
  }
}

void GradBuckets::begin(double weight) {
  weight_ = weight;
  next_ = 0;
  started_early_ = 0;
  copied_.assign(params_.size(), false);
  for (Bucket& b : buckets_) {
    b.missing = b.params.size();
    b.request.reset();
  }
}

void GradBuckets::copy_in(size_t k) {
  Bucket& b = buckets_[bucket_of_[k]];
  const Tensor& p = params_[k];
  const Tensor g = p.grad();
  const int64_t n = p.numel(), at = b.offsets[slot_of_[k]];
  auto scaled = [&](auto* dst) {
    using T = std::remove_pointer_t<decltype(dst)>;
    dst += at;
    if (!g.defined()) return static_cast<void>(std::memset(dst, 0, static_cast<size_t>(n) * sizeof(T)));
    const T* src = g.data<T>();
    const T w = static_cast<T>(weight_);
    for (int64_t i = 0; i < n; ++i) dst[i] = w * src[i];
  };
  if (b.flat.dtype() == DType::F32) scaled(b.flat.data<float>());
  else scaled(b.flat.data<double>());
  copied_[k] = true;
  --b.missing;
}

void GradBuckets::launch_ready() {
  while (next_ < buckets_.size() && buckets_[next_].missing == 0) {
    Bucket& b = buckets_[next_++];
    b.request = comm_.iallreduce(b.flat.raw_data(), b.flat.numel(), b.flat.dtype(), ReduceOp::Sum);
  }
}

void GradBuckets::on_ready(const Tensor& leaf) {
  auto it = index_.find(leaf.impl().get());
  if (it == index_.end() || copied_[it->second]) return;  // not a parameter of this model
  copy_in(it->second);
  if (!overlap_) return;
  launch_ready();
  started_early_ = next_;
  // Nonblocking collectives advance only inside MPI calls: poke the ones in flight.
  for (size_t i = 0; i < next_; ++i) buckets_[i].request->test();
}

void GradBuckets::finish() {
  for (size_t k = 0; k < params_.size(); ++k)
    if (!copied_[k]) copy_in(k);
  launch_ready();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    b.request->wait();
    for (size_t j = 0; j < b.params.size(); ++j) {
      const Tensor& p = params_[b.params[j]];
      Tensor g = p.grad();
      if (!g.defined()) {
        g = empty(p.shape(), p.dtype());
        p.set_grad(g);
      }
      const size_t bytes = static_cast<size_t>(p.numel()) * dtype_size(p.dtype());
      std::memcpy(g.raw_data(), static_cast<const char*>(b.flat.raw_data()) + b.offsets[j] * dtype_size(p.dtype()), bytes);
    }
  }
}

}  // namespace descent::dist
