// Internal: the state behind a Loader, shared by loader.cpp (batch making) and prefetch.cpp
// (serving batches, synchronously or from a background thread).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "descent/data.h"

namespace descent::data {

/// Throws for negative sizes, or transforms on samples that are not [C, H, W] images.
void check_augment(const AugmentOptions& options, const Shape& sample_shape);

/// What a batch is made from. make_batch only reads it, so the prefetch thread may call it while
/// the caller waits; only reset() (with the worker idle) writes it.
struct LoaderCore {
  Tensor inputs, targets;
  Shape sample_shape;
  Task task = Task::Classification;
  int64_t row = 0;              // elements per input sample
  int64_t target_row = 0;       // elements per target
  LoaderOptions options;
  std::vector<int64_t> indices; // the subset, in the caller's order
  std::vector<int64_t> order;   // this epoch's order
  int64_t epoch = 0;

  /// Size of the batch starting at sample `pos` of the epoch (0: the epoch is over).
  int64_t batch_at(int64_t pos) const;
  /// The batch starting at `pos`: a function of (order, epoch, pos) only.
  void make_batch(int64_t pos, Batch& out) const;
  /// order = indices permuted for `epoch`.
  void make_order();
};

struct Loader::Impl {
  LoaderCore core;
  int64_t position = 0;   // samples handed to the caller this epoch

  // Prefetch state (unused without prefetch), guarded by mu unless said otherwise.
  struct Item {
    int64_t pos = 0;      // the sample position the batch starts at
    Batch batch;
    std::exception_ptr error;
  };
  static constexpr size_t kAhead = 2;  // batches made ahead: one ready, one in the making
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> ready;
  int64_t produce_pos = 0;            // next sample position the worker makes a batch for
  std::atomic<int64_t> consumed{0};   // = position, published for the worker (written by the caller only)
  bool busy = false;                  // the worker is inside make_batch (core must not change)
  bool stop = false;

  ~Impl();
  void start_worker();
  void run_worker();
  /// Moves to (epoch, position, seed), discarding batches made ahead.
  void reset(int64_t epoch, int64_t position, uint64_t seed);
  /// The next batch: the worker's when it is ready, else made now on the caller's thread.
  bool next(Batch& out);
};

}  // namespace descent::data
