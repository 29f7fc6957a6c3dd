#!/usr/bin/env bash
# descent against its peers (LibTorch, PyTorch), side by side in one invocation (issue 10).
#
# Installs the peers' Debian packages when missing, builds descent's bench_descent_epoch and the
# LibTorch peers, then runs every configuration ALTERNATELY, round after round, each process under
# /usr/bin/time -v (peak RSS, minor page faults), and prints a Markdown table with the ratio
# descent / peer. Machines here are shared and noisy: only ratios measured in the same run mean
# anything, and alternating spreads slow phases of the machine over all sides alike.
#
# Configurations (the issue's):
#   descent         environment as it is (descent's GEMM is oneDNN: no OPENBLAS_* touches it)
#   libtorch        LibTorch as a user finds it: torch::set_num_threads(THREADS), environment as is,
#                   the system's libblas.so.3 (Debian's default OpenBLAS, the pthread build, once
#                   install-deps --bench has run; the GEMM column names what was really loaded)
#   libtorch-best   LibTorch at its best here: Debian's OpenMP OpenBLAS through LD_LIBRARY_PATH,
#                   OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (for that command only), THREADS
#                   threads; for the CNN also glibc malloc tunables that keep freed activations
#                   on the heap instead of unmapping them (no page-fault churn)
#   pytorch         PyTorch as a user finds it (Debian's /usr/bin/python3, torch's default threads)
#
# Usage: bench/compare.sh [options]
#   --model mlp|cnn|both   models to run (default both; the CNN row needs nn::Conv2d in descent)
#   --rounds N             processes per configuration, alternated (default 3, at least 3 for a table)
#   --mlp-epochs N         MLP epochs per process (default 10, the protocol; 5 still times epochs 2-5)
#   --cnn-epochs N         CNN epochs per process (default 3, the protocol)
#   --threads N            threads of descent and LibTorch (default 2)
#   --configs LIST         comma-separated subset of descent,libtorch,libtorch-best,pytorch
#   --no-install           do not call scripts/install-deps.sh --bench
#   --no-build             use the binaries already in BUILD (e.g. while another run uses them, or
#                          while someone's unfinished change breaks the build)
#   --out DIR              where the logs go (default: a new temporary directory)
# Environment: BUILD (descent build directory, default build), JOBS (parallel build jobs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
[[ "$build" = /* ]] || build="$root/$build"
jobs=${JOBS:-$(nproc)}
models=both rounds=3 mlp_epochs=10 cnn_epochs=3 threads=2 install=1 build_step=1 out=""
configs=descent,libtorch,libtorch-best,pytorch

while (($#)); do
  case "$1" in
    --model) models=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --mlp-epochs) mlp_epochs=$2; shift 2 ;;
    --cnn-epochs) cnn_epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) build_step=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$models" in mlp) models=(mlp) ;; cnn) models=(cnn) ;; both) models=(mlp cnn) ;;
  *) echo "compare.sh: --model must be mlp, cnn or both" >&2; exit 2 ;; esac
IFS=, read -r -a configs <<<"$configs"
for c in "${configs[@]}"; do
  case "$c" in descent|libtorch|libtorch-best|pytorch) ;;
    *) echo "compare.sh: unknown configuration $c" >&2; exit 2 ;; esac
done
[[ -n "$out" ]] || out=$(mktemp -d "${TMPDIR:-/tmp}/descent-compare.XXXXXX")
mkdir -p "$out"

if ((install)); then "$root/scripts/install-deps.sh" --bench; fi
python=/usr/bin/python3  # Debian's interpreter: python3-torch installs there, not into a pyenv/venv

if ((build_step)); then
  echo "compare: building descent ($build) and the LibTorch peers ($build/peers)" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$jobs" --target bench_descent_epoch >/dev/null
  cmake -S "$root/bench/peers" -B "$build/peers" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build/peers" -j "$jobs" >/dev/null
fi
for exe in "$build/bench/bench_descent_epoch" "$build/peers/libtorch_mlp" "$build/peers/libtorch_cnn"; do
  [[ -x "$exe" ]] || { echo "compare: $exe is missing (run without --no-build)" >&2; exit 1; }
done

# Where Debian's OpenMP OpenBLAS keeps its libblas.so.3 (asked of dpkg: the multiarch path is the
# package's business, not ours).
openblas_dir=$(dirname "$(dpkg -L libopenblas0-openmp | grep '/libblas\.so\.3$' | head -n1)")

# The command line of one configuration for one model, as an array in $cmd.
command_for() {
  local config=$1 model=$2 epochs=$3
  case "$config" in
    descent) cmd=("$build/bench/bench_descent_epoch" "$model" "$epochs" "$threads") ;;
    libtorch) cmd=("$build/peers/libtorch_$model" "$epochs" "$threads") ;;
    libtorch-best)
      cmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "LD_LIBRARY_PATH=$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
      # mmap_threshold at glibc's maximum (32 MiB) puts the CNN's ~11 MB activations on the heap
      # instead of a fresh mmap (and page faults) per step; trim_threshold keeps freed memory there.
      [[ "$model" == cnn ]] && cmd+=("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824")
      cmd+=("$build/peers/libtorch_$model" "$epochs" "$threads") ;;
    pytorch) cmd=("$python" "$root/bench/peers/pytorch_peer.py" "$model" "$epochs") ;;
  esac
}

{
  echo "# bench/compare.sh $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); OPENBLAS_* set: $(env | grep -c '^OPENBLAS_' || true)"
} >"$out/header.txt"  # summarize.py prints it above the table

for model in "${models[@]}"; do
  epochs=$mlp_epochs
  [[ "$model" == cnn ]] && epochs=$cnn_epochs
  if [[ "$model" == cnn ]] && ! grep -q 'class Conv2d' "$root/include/descent/nn.h"; then
    echo "compare: descent has no nn::Conv2d yet: CNN comparison pending" >&2
    continue
  fi
  for ((r = 1; r <= rounds; r++)); do
    # Odd rounds run the configurations in order, even rounds in reverse (A B C D, D C B A, ...),
    # so a drift in machine load over the run does not always favour the one that goes first.
    order=("${configs[@]}")
    if ((r % 2 == 0)); then
      order=()
      for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
    fi
    for config in "${order[@]}"; do
      command_for "$config" "$model" "$epochs"
      log="$out/$model.$config.$r"
      echo "compare: $model round $r/$rounds: $config" >&2
      if ! /usr/bin/time -v -o "$log.time" "${cmd[@]}" >"$log.out" 2>"$log.err"; then
        echo "compare: $config failed on $model (see $log.err)" >&2
        tail -n 5 "$log.err" >&2
      fi
    done
  done
done

"$python" "$root/bench/peers/summarize.py" "$out" | tee "$out/table.md"
echo "compare: logs in $out" >&2
