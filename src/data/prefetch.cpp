// Serving batches, optionally made ahead by a background thread (double buffering).
//
// Determinism does not depend on timing because a batch is a pure function of (order, epoch,
// position): the worker makes exactly the batches the caller would have made, in the same order,
// and only reset() changes what they are — after waiting for the worker to be idle and dropping
// whatever it made ahead. The worker runs no OpenMP, so it never starts a second thread pool
// beside the one the training step uses.
//
// The caller never waits for the worker: when the batch it needs is not ready (the worker was not
// scheduled in time, or the lock is held), it makes that batch itself, exactly as a loader without
// prefetch would, and the worker skips past it (a result for a position already served is
// dropped). So a step's data time is at most the synchronous loader's, and is nothing when the
// worker keeps up. The worker runs under SCHED_BATCH: the kernel then does not let its wake-up
// preempt the thread that woke it. Without that, on a machine whose cores are all busy (the
// training step's own threads, or other processes), waking the worker after each batch evicted the
// training thread for milliseconds (measured with bench_prefetch: 3-5 ms per step in next(), more
// than the 0.08 ms it takes to make the batch).
#include <pthread.h>
#include <sched.h>

#include <algorithm>

#include "data/loader_impl.h"

namespace descent::data {

Loader::Impl::~Impl() {
  if (!worker.joinable()) return;
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  worker.join();
}

void Loader::Impl::start_worker() { worker = std::thread([this] { run_worker(); }); }

void Loader::Impl::run_worker() {
  sched_param param{};
  param.sched_priority = 0;
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort: only timing depends on it
  std::unique_lock lock(mu);
  auto next_pos = [&] { return std::max(produce_pos, consumed.load(std::memory_order_acquire)); };
  for (;;) {
    cv.wait(lock, [&] { return stop || (ready.size() < kAhead && core.batch_at(next_pos()) > 0); });
    if (stop) return;
    const int64_t pos = next_pos();
    busy = true;
    lock.unlock();
    Item item;
    item.pos = pos;
    try {
      core.make_batch(pos, item.batch);
    } catch (...) {
      item.error = std::current_exception();
    }
    lock.lock();
    busy = false;
    // reset() cannot have run meanwhile (it waits for !busy); the caller may have made this batch
    // itself meanwhile, then it is dropped.
    produce_pos = pos + core.batch_at(pos);
    if (pos >= consumed.load(std::memory_order_acquire)) ready.push_back(std::move(item));
    cv.notify_all();  // a reset() may be waiting for !busy
  }
}

void Loader::Impl::reset(int64_t epoch, int64_t pos, uint64_t seed) {
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return !busy; });
  ready.clear();
  core.epoch = epoch;
  core.options.seed = seed;
  core.make_order();
  position = pos;
  produce_pos = pos;
  consumed.store(pos, std::memory_order_release);
  lock.unlock();
  cv.notify_all();
}

bool Loader::Impl::next(Batch& out) {
  const int64_t count = core.batch_at(position);
  if (count == 0) return false;
  if (!worker.joinable()) {
    core.make_batch(position, out);
    position += count;
    return true;
  }
  Item item;
  bool taken = false, changed = false;
  {
    std::unique_lock lock(mu, std::try_to_lock);  // held by the worker only for a few instructions
    if (lock.owns_lock()) {
      while (!ready.empty() && ready.front().pos < position) ready.pop_front(), changed = true;  // made after the caller did
      if (!ready.empty() && ready.front().pos == position) {
        item = std::move(ready.front());
        ready.pop_front();
        taken = changed = true;
      }
    }
  }
  if (taken && !item.error) {
    out = std::move(item.batch);
  } else {
    // Not ready: make it here. A batch the worker failed to make fails here again, on the caller's
    // thread, with position unchanged, so a retry makes this same batch.
    core.make_batch(position, out);
  }
  position += count;
  consumed.store(position, std::memory_order_release);
  if (changed) cv.notify_all();  // room for more
  return true;
}

}  // namespace descent::data
