// The timing rule of the per-op overhead benchmark (bench/bench_op_overhead.cpp for descent,
// bench/peers/libtorch_op_overhead.cpp for LibTorch), written once so both sides measure alike:
// each case runs kIters calls per repetition, kReps repetitions after one warm-up, and reports
// the median nanoseconds per call. Free of torch and of descent (C++17).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace op_overhead {

inline constexpr int kIters = 20000;
inline constexpr int kReps = 7;

template <class F>
double median_ns_per_call(F&& f) {
  std::vector<double> ns;
  for (int r = 0; r <= kReps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kIters; ++i) f();
    const std::chrono::duration<double, std::nano> d = std::chrono::steady_clock::now() - t0;
    if (r > 0) ns.push_back(d.count() / kIters);  // repetition 0 warms caches and allocators
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

// One line per case, parsed by bench/op_overhead.sh.
inline void report(const char* impl, const char* name, double ns) { std::printf("OP impl=%s case=%s ns=%.1f\n", impl, name, ns); }

}  // namespace op_overhead
