#!/bin/sh
# An external objective for `command = [...]` studies in tests/hpo_test.cpp: prints
# "intermediate STEP VALUE" per step, then the objective (x - 0.3)^2 alone on the last line.
# Usage: fake_program.sh X [STEPS] [SLEEP]
x=$1; steps=${2:-5}; pause=${3:-0.02}
s=1
while [ "$s" -le "$steps" ]; do
  sleep "$pause"
  awk -v x="$x" -v s="$s" 'BEGIN { printf "intermediate %d %.12g\n", s, (x - 0.3) ^ 2 + 1 / s }'
  s=$((s + 1))
done
echo "some log line that is not a number"
awk -v x="$x" 'BEGIN { printf "%.12g\n", (x - 0.3) ^ 2 }'
