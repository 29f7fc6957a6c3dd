#!/usr/bin/env bash
# TPE against random search on synthetic objectives run as external programs (issue 8), and
# Debian's python3-optuna TPE on the same functions and budget, side by side.
#
# For Branin (2-d, minimum 0.397887) and Hartmann-6 (6-d, minimum -3.32237), SEEDS studies of
# TRIALS trials each per sampler: `descent tune` runs bench/hpo_objective once per trial (the
# objective is its last output line), one trial at a time. The table gives the median over the
# seeds of the best value each study found (lower is better), and how many seeds TPE beat
# random on. Optuna's TPESampler (defaults) runs the same program per trial.
#
# Usage: bench/hpo_synthetic.sh [--seeds N] [--trials N] [--no-optuna] [--out DIR]
# Environment: BUILD (descent build directory, default build; needs the descent and
# bench/hpo_objective targets). python3-optuna: scripts/install-deps.sh --bench.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
[[ "$build" = /* ]] || build="$root/$build"
seeds=10 trials=100 optuna=1 out=""
while (($#)); do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --no-optuna) optuna=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "hpo_synthetic.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
descent=$build/descent
objective=$build/bench/hpo_objective
for f in "$descent" "$objective"; do
  [[ -x "$f" ]] || { echo "hpo_synthetic.sh: $f is missing: cmake --build $build --target descent_cli hpo_objective" >&2; exit 2; }
done
[[ -n "$out" ]] || out=$(mktemp -d /tmp/descent_hpo_synthetic.XXXXXX)
mkdir -p "$out"
results=$out/results.txt
: > "$results"

space_of() {
  case "$1" in
    branin) printf 'x1 = { type = "uniform", low = -5.0, high = 10.0 }\nx2 = { type = "uniform", low = 0.0, high = 15.0 }\n' ;;
    hartmann6) for i in 1 2 3 4 5 6; do printf 'x%d = { type = "uniform", low = 0.0, high = 1.0 }\n' "$i"; done ;;
  esac
}
args_of() {
  case "$1" in
    branin) echo '"{x1}", "{x2}"' ;;
    hartmann6) echo '"{x1}", "{x2}", "{x3}", "{x4}", "{x5}", "{x6}"' ;;
  esac
}

start=$(date +%s)
for function in branin hartmann6; do
  for sampler in tpe random; do
    for ((seed = 0; seed < seeds; seed++)); do
      name=${function}_${sampler}_${seed}
      cat > "$out/$name.toml" <<TOML
command = ["$objective", "$function", $(args_of "$function")]
direction = "minimize"
trials = $trials
seed = $seed
sampler = "$sampler"
[space]
$(space_of "$function")
TOML
      rm -rf "$out/$name"
      "$descent" tune "$out/$name.toml" --out "$out/$name" --jobs 1 --quiet > "$out/$name.log"
      best=$(awk -F, 'NR > 1 && $2 == "complete" { if (n++ == 0 || $3 < b) b = $3 } END { if (n) printf "%.10g", b }' \
        "$out/$name/trials.csv")
      complete=$(awk -F, 'NR > 1 && $2 == "complete"' "$out/$name/trials.csv" | wc -l)
      [[ "$complete" -eq "$trials" ]] || { echo "hpo_synthetic.sh: $name: $complete of $trials trials complete" >&2; exit 1; }
      echo "$function descent-$sampler $seed $best" | tee -a "$results"
    done
  done
done
descent_seconds=$(($(date +%s) - start))

optuna_seconds=0
if ((optuna)); then
  if /usr/bin/python3 -c 'import optuna' 2> /dev/null; then
    start=$(date +%s)
    /usr/bin/python3 "$root/bench/hpo_synthetic_optuna.py" "$objective" "$seeds" "$trials" | tee -a "$results"
    optuna_seconds=$(($(date +%s) - start))
  else
    echo "hpo_synthetic.sh: python3-optuna is not installed (scripts/install-deps.sh --bench); no Optuna column" >&2
  fi
fi

median() {  # of the values of FUNCTION METHOD
  awk -v f="$1" -v m="$2" '$1 == f && $2 == m { print $4 }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.6g", v[(NR + 1) / 2]; else printf "%.6g", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
wins() {  # seeds on which descent's TPE found a lower best than its random search
  awk -v f="$1" '$1 == f && $2 == "descent-tpe" { t[$3] = $4 } $1 == f && $2 == "descent-random" { r[$3] = $4 }
    END { for (s in t) if (s in r) { n++; w += t[s] < r[s] } printf "%d of %d", w, n }' "$results"
}

echo
echo "Median best value over $seeds seeds after $trials trials (lower is better; per-run values in $results)"
echo
echo "| function | optimum | descent random | descent TPE | Optuna TPE | TPE < random |"
echo "|---|---|---|---|---|---|"
for function in branin hartmann6; do
  optimum=$([[ $function = branin ]] && echo 0.397887 || echo -3.32237)
  echo "| $function | $optimum | $(median "$function" descent-random) | $(median "$function" descent-tpe) |" \
    "$(median "$function" optuna-tpe) | $(wins "$function") |"
done
echo
echo "wall time: descent $descent_seconds s for $((4 * seeds)) studies; Optuna $optuna_seconds s for $((2 * seeds)) studies"
