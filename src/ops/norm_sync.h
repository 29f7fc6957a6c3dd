// Internal: the hook that turns batch_norm's per-process statistics into statistics over every
// process of a data-parallel run (sync batch norm). Level 2 cannot know the communicator, so
// src/dist installs two sums here for the duration of a training step; batch_norm in training
// mode uses them when set, and is unchanged otherwise.
//
// Forward: the global mean and biased variance come from the per-rank counts, means and
// variances (Chan's combination: no cancellation). Backward: dx needs Σg and Σg·x̂ over the whole
// batch. Each rank's g is the gradient of its own shard's loss, which the gradient all-reduce
// later scales by the rank's share s_r of the global loss; so grad_sum adds s_q·(local sums)
// over ranks q and divides by the caller's s_r, which makes s_r·dx_r the global batch's dx.
#pragma once
#include <cstdint>
#include <functional>

namespace descent::ops {

/// Sums over every process, in place; every process must call in the same order.
struct BatchNormSync {
  std::function<void(double* values, int64_t n)> stat_sum;  ///< plain sums (counts, moments)
  std::function<void(double* values, int64_t n)> grad_sum;  ///< share-weighted sums (see above)
};

/// Installs the hook for the calling thread (empty functions: per-process statistics).
void set_batch_norm_sync(BatchNormSync sync);
/// The calling thread's hook.
const BatchNormSync& batch_norm_sync();

}  // namespace descent::ops
