#!/usr/bin/env bash
# Installs the Debian packages descent needs, only those that are missing (idempotent, apt only).
# Usage: scripts/install-deps.sh [--bench] [--interop]
#   --bench    adds the peers used by bench/compare.sh and bench/hpo_synthetic.sh
#   --interop  adds what scripts/check_torch_load.py and scripts/check_onnx.py run on (/usr/bin/python3)
set -euo pipefail

packages=(
  build-essential cmake make pkg-config
  libdnnl-dev zlib1g-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  libopenmpi-dev openmpi-bin
  libonnx-dev libprotobuf-dev
  dataset-fashion-mnist
  python3-sklearn
)
for arg in "$@"; do
  case "$arg" in
    # libopenblas0: Debian's default OpenBLAS (the pthread build), what a user who installs
    # OpenBLAS next to LibTorch gets; the "LibTorch as found" row of bench/compare.sh runs on it.
    # (Without it, LibTorch's libblas.so.3 falls back to the reference BLAS.) It has the higher
    # alternatives priority, so installing the OpenMP build as well does not change the default.
    # libopenblas0-openmp: the "LibTorch at its best" row loads it through LD_LIBRARY_PATH;
    # linux-perf: the profiles in docs/PERFORMANCE.md; python3-optuna: the TPE peer of
    # bench/hpo_synthetic.sh.
    --bench) packages+=(libtorch-dev python3-torch time libopenblas0 libopenblas0-pthread libopenblas0-openmp
                        linux-perf python3-optuna) ;;
    --interop) packages+=(python3-torch python3-onnx python3-opencv python3-numpy) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
