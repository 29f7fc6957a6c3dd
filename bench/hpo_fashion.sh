#!/usr/bin/env bash
# ASHA against full training on the Fashion-MNIST MLP (issue 8).
#
# The same TRIALS configurations (random sampler, one seed) are run twice by `descent tune`:
# once each to completion (9 epochs), once under ASHA (min_resource 1, reduction factor 3: rungs
# at epochs 1, 3 and 9). The search is the issue's: lr log 1e-3..1, momentum 0.5..0.99, width of
# the first hidden layer {64, 128, 256, 512}, weight decay log 1e-6..1e-2, on
# examples/fashion_mlp.toml with a 10% validation split; the objective is the last epoch's
# val_acc. Reported: the best val_acc of each study (and the test accuracy of that trial), the
# epochs each study trained (lines of the trials' metrics.jsonl) and their ratio, wall times.
# The issue's bar: ASHA's best within 0.5 points of the full study's, with at most 40% of its
# epochs.
#
# Usage: bench/hpo_fashion.sh [--trials N] [--seed S] [--jobs J] [--out DIR]
#   defaults: 20 trials, seed 0, 2 trials at once (each with train.threads = 1)
# Environment: BUILD (descent build directory, default build). Data: dataset-fashion-mnist.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
[[ "$build" = /* ]] || build="$root/$build"
trials=20 seed=0 jobs=2 out=""
while (($#)); do
  case "$1" in
    --trials) trials=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "hpo_fashion.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
descent=$build/descent
[[ -x "$descent" ]] || { echo "hpo_fashion.sh: $descent is missing: cmake --build $build --target descent_cli" >&2; exit 2; }
[[ -n "$out" ]] || out=$(mktemp -d /tmp/descent_hpo_fashion.XXXXXX)
mkdir -p "$out"

study() {  # NAME PRUNER
  cat > "$out/$1.toml" <<TOML
name = "$1"
base = "$root/examples/fashion_mlp.toml"
metric = "val_acc"
direction = "maximize"
trials = $trials
seed = $seed
threads_per_trial = 1
sampler = "random"
pruner = $2

[set]
"data.validation_split" = 0.1
"train.epochs" = 9
"train.threads" = 1
"train.progress" = false

[space]
"optimizer.lr" = { type = "loguniform", low = 1e-3, high = 1.0 }
"optimizer.momentum" = { type = "uniform", low = 0.5, high = 0.99 }
"model.layers.0.out_features" = { type = "categorical", choices = [64, 128, 256, 512] }
"optimizer.weight_decay" = { type = "loguniform", low = 1e-6, high = 1e-2 }
TOML
}
study full '"none"'
study asha '{ type = "asha", min_resource = 1, reduction_factor = 3 }'

declare -A seconds
for name in full asha; do
  rm -rf "$out/$name"
  start=$(date +%s)
  "$descent" tune "$out/$name.toml" --out "$out/$name" --jobs "$jobs" > "$out/$name.log"
  seconds[$name]=$(($(date +%s) - start))
  echo "$name: ${seconds[$name]} s" >&2
done

# best val_acc, its trial, that trial's last test_acc, epochs trained, states
summary() {
  local dir=$out/$1
  local best_line best_n best_v test epochs states
  best_line=$(awk -F, 'NR > 1 && $2 == "complete" && ($3 > b || n++ == 0) { b = $3; t = $1 } END { print t, b }' "$dir/trials.csv")
  read -r best_n best_v <<<"$best_line"
  test=$(tail -n 1 "$dir/trials/$(printf %04d "$best_n")/metrics.jsonl" | sed -n 's/.*"test_acc": *\([0-9.eE+-]*\).*/\1/p')
  epochs=$(cat "$dir"/trials/*/metrics.jsonl | grep -c .)
  states=$(awk -F, 'NR > 1 { c[$2]++ } END { for (s in c) printf "%s %d, ", s, c[s] }' "$dir/trials.csv")
  echo "$best_n $best_v $test $epochs ${states%, }"
}
read -r fn fv ft fe fs <<<"$(summary full)"
read -r an av at ae as <<<"$(summary asha)"
echo
echo "Fashion-MNIST MLP, $trials random configurations (seed $seed), $jobs at once, 1 thread each"
echo
echo "| study | best val_acc (trial) | its test_acc | epochs trained | wall time | trials |"
echo "|---|---|---|---|---|---|"
echo "| full (9 epochs each) | $fv ($fn) | $ft | $fe | ${seconds[full]} s | $fs |"
echo "| ASHA (eta 3, rungs 1/3/9) | $av ($an) | $at | $ae | ${seconds[asha]} s | $as |"
echo
awk -v fv="$fv" -v av="$av" -v fe="$fe" -v ae="$ae" 'BEGIN {
  gap = 100 * (fv - av); frac = 100 * ae / fe
  printf "ASHA best - full best = %+.2f accuracy points (bar: within 0.5): %s\n", -gap, (gap <= 0.5 ? "met" : "NOT met")
  printf "ASHA epochs / full epochs = %.1f%% (bar: at most 40%%): %s\n", frac, (frac <= 40 ? "met" : "NOT met") }'
echo "study folders: $out/full, $out/asha"
