// Internal: the gradient all-reduce in fixed-size buckets.
//
// Parameters are laid into buckets in reverse registration order (the last layer's gradients
// are final first in backward), each bucket holding up to bucket_mb of one dtype; a parameter
// larger than that gets a bucket of its own. When every gradient of a bucket is final (the
// autograd grad-ready hook), the bucket copies them, scaled by this rank's share of the global
// loss, into its flat buffer and starts a nonblocking sum. Buckets start strictly in index
// order on every rank (MPI matches collectives by issue order), so a rank whose backward finishes
// its buckets in another order, or that has no shard this step, still pairs up correctly.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "descent/dist.h"

namespace descent::dist {

class GradBuckets {
 public:
  GradBuckets(Communicator& comm, std::vector<Tensor> params, double bucket_mb, bool overlap);
  /// Parameter indices of each bucket, in launch order.
  const std::vector<std::vector<size_t>>& layout() const { return layout_; }
  /// Arms the buckets for one backward whose local gradients are scaled by `weight`.
  void begin(double weight);
  /// A leaf's gradient is final: copies it and starts every bucket now complete, in order.
  void on_ready(const Tensor& leaf);
  /// Starts what is left (a gradient that never came counts as zero), waits, and writes the sums
  /// into every parameter's .grad().
  void finish();
  /// Buckets of the last step started before finish(), i.e. while backward was running.
  size_t started_early() const { return started_early_; }

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;  // element offset of each parameter in flat
    Tensor flat;
    size_t missing = 0;            // gradients not yet copied this step
    std::unique_ptr<Request> request;
  };
  void copy_in(size_t param);
  void launch_ready();

  Communicator& comm_;
  std::vector<Tensor> params_;
  bool overlap_;
  std::vector<Bucket> buckets_;
  std::vector<std::vector<size_t>> layout_;
  std::vector<size_t> bucket_of_, slot_of_;
  std::unordered_map<const void*, size_t> index_;  // TensorImpl* -> parameter index
  std::vector<bool> copied_;
  size_t next_ = 0;  // next bucket to start
  size_t started_early_ = 0;
  double weight_ = 1.0;
};

}  // namespace descent::dist
