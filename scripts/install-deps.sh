#!/usr/bin/env bash
# Installs the Debian packages descent needs, only those that are missing (idempotent, apt only).
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the peers used by bench/compare.sh)
set -euo pipefail

packages=(
  build-essential cmake make pkg-config
  libdnnl-dev zlib1g-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  python3-sklearn
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libtorch-dev python3-torch time)
fi

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
