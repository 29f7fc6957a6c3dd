// Serving batches, optionally made ahead by a background thread (double buffering).
//
// Determinism does not depend on timing because a batch is a pure function of (order, epoch,
// position): the worker makes exactly the batches the caller would have made, in the same order,
// and only reset() changes what they are — after waiting for the worker to be idle and dropping
// whatever it made ahead. The worker runs no OpenMP, so it never starts a second thread pool
// beside the one the training step uses.
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
  std::unique_lock lock(mu);
  for (;;) {
    cv.wait(lock, [&] { return stop || (ready.size() < kAhead && core.batch_at(produce_pos) > 0); });
    if (stop) return;
    const int64_t pos = produce_pos;
    busy = true;
    lock.unlock();
    Item item;
    try {
      core.make_batch(pos, item.batch);
    } catch (...) {
      item.error = std::current_exception();
    }
    lock.lock();
    busy = false;
    // reset() cannot have run meanwhile (it waits for !busy), so the batch is still wanted.
    produce_pos = pos + core.batch_at(pos);
    ready.push_back(std::move(item));
    cv.notify_all();
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
  lock.unlock();
  cv.notify_all();
}

bool Loader::Impl::next(Batch& out) {
  if (!worker.joinable()) {
    const int64_t count = core.batch_at(position);
    if (count == 0) return false;
    core.make_batch(position, out);
    position += count;
    return true;
  }
  std::unique_lock lock(mu);
  const int64_t count = core.batch_at(position);
  if (count == 0) return false;
  cv.wait(lock, [&] { return !ready.empty(); });
  Item item = std::move(ready.front());
  ready.pop_front();
  lock.unlock();
  cv.notify_all();
  if (item.error) {
    // Drop what was made ahead, so that a retry makes this same batch again.
    reset(core.epoch, position, core.options.seed);
    std::rethrow_exception(item.error);
  }
  out = std::move(item.batch);
  position += count;
  return true;
}

}  // namespace descent::data
