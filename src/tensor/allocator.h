// Internal: the caching allocator behind every tensor's storage.
//
// Training repeats the same tensor sizes every step, so freed blocks are kept in per-size free
// lists and handed out again: a training step in steady state makes no system call and takes no
// fresh page faults. Sizes are rounded up (64-byte multiples below 4 KiB, then 1/8 of the next
// power of two) so near-identical sizes share a list. Blocks are 64-byte aligned for AVX-512.
#pragma once
#include <cstddef>
#include <cstdint>

namespace descent::alloc {

/// A block of at least `bytes` bytes, 64-byte aligned.
void* allocate(size_t bytes);
/// Returns a block from allocate(bytes) to the cache.
void release(void* p, size_t bytes);
/// Statistics for tests and benchmarks.
struct Stats {
  uint64_t system_allocs = 0;   ///< blocks taken from the system
  uint64_t cache_hits = 0;      ///< requests served from the cache
  size_t cached_bytes = 0;      ///< bytes currently held in free lists
};
Stats stats();
/// Gives every cached block back to the system.
void empty_cache();

}  // namespace descent::alloc
