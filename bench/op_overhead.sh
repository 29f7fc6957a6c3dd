#!/usr/bin/env bash
# Per-op overhead, descent against LibTorch (issue 10): runs build/bench/bench_op_overhead and the
# LibTorch peer alternately (A B, B A, ...), ROUNDS processes each, and prints per case the median
# nanoseconds per call of each side and the ratio descent / LibTorch. Cases: see
# bench/bench_op_overhead.cpp.
#
# Usage: bench/op_overhead.sh [rounds=3] [threads=1]
# Environment: BUILD (descent build directory, default build; the peer is built in BUILD/peers).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
[[ "$build" = /* ]] || build="$root/$build"
rounds=${1:-3} threads=${2:-1}

"$root/scripts/install-deps.sh" --bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_op_overhead >/dev/null
cmake -S "$root/bench/peers" -B "$build/peers" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/peers" -j "$(nproc)" --target libtorch_op_overhead >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
sides=("$build/bench/bench_op_overhead" "$build/peers/libtorch_op_overhead")
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(0 1); else order=(1 0); fi
  for i in "${order[@]}"; do "${sides[i]}" "$threads" >>"$out"; done
done

echo "# per-op overhead, $threads thread(s), $rounds processes per side, median ns per call"
echo "| case | descent ns | LibTorch ns | descent / LibTorch |"
echo "|---|---|---|---|"
awk '
  /^OP / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    key = f["case"]; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    v[f["impl"], key, ++cnt[f["impl"], key]] = f["ns"]
  }
  function med(impl, key,   m, i, j, t, a) {
    m = cnt[impl, key]; for (i = 1; i <= m; i++) a[i] = v[impl, key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    for (k = 1; k <= n; k++) {
      d = med("descent", order[k]); l = med("libtorch", order[k])
      printf "| %s | %.0f | %.0f | %.2f |\n", order[k], d, l, d / l
    }
  }' "$out"
