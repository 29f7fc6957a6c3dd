#include "tensor/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace descent::alloc {
namespace {

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  Stats stats;
  ~Cache() {
    for (auto& [size, list] : free_lists)
      for (void* p : list) std::free(p);
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may be freed during static destruction
  return *c;
}

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 63) & ~size_t{63};
  size_t p = 4096;
  while (p < bytes) p <<= 1;
  size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

}  // namespace

void* allocate(size_t bytes) {
  size_t n = round_size(bytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mu);
    auto it = c.free_lists.find(n);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cache_hits++;
      c.stats.cached_bytes -= n;
      return p;
    }
    c.stats.system_allocs++;
  }
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return p;
}

void release(void* p, size_t bytes) {
  if (!p) return;
  size_t n = round_size(bytes);
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.free_lists[n].push_back(p);
  c.stats.cached_bytes += n;
}

Stats stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.stats;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  for (auto& [size, list] : c.free_lists)
    for (void* p : list) std::free(p);
  c.free_lists.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace descent::alloc
