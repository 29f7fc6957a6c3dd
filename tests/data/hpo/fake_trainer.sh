#!/bin/sh
# Stands in for `descent train BASE --set key=value ... --out DIR` in tests/hpo_test.cpp.
# Writes DIR/metrics.jsonl, one line per epoch, from its --set parameters:
#   val_loss(epoch) = (x - 0.3)^2 + 1 / epoch,   train_loss = val_loss / 2,   val_acc = 1 - val_loss
# mode=fail exits 3 after epoch 2 (message on stderr); mode=nan reports train_loss null at
# epoch 2; mode=dead reports "health": "dead" at epoch 2. epochs=N sets the epochs (default 6).
# Environment: FAKE_SLEEP seconds per epoch (default 0.03); FAKE_IGNORE_TERM=1 ignores SIGTERM;
# FAKE_LOG, if set, gets a line "start x mode" per run. DIR/done marks a run that finished.
base=$1
shift
[ -f "$base" ] || { echo "fake_trainer: no base config $base" >&2; exit 4; }
x=0; mode=ok; epochs=6; out=
while [ $# -gt 0 ]; do
  case "$1" in
    --set)
      case "$2" in
        x=*) x=${2#x=} ;;
        mode=*) mode=${2#mode=}; mode=${mode#\"}; mode=${mode%\"} ;;  # strings come quoted
        epochs=*) epochs=${2#epochs=} ;;
        *) echo "fake_trainer: unknown key in --set $2" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "fake_trainer: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "fake_trainer: --out missing" >&2; exit 2; }
[ "${FAKE_IGNORE_TERM:-0}" = 1 ] && trap '' TERM
[ -n "${FAKE_LOG:-}" ] && echo "start $x $mode" >> "$FAKE_LOG"
mkdir -p "$out"
e=1
while [ "$e" -le "$epochs" ]; do
  sleep "${FAKE_SLEEP:-0.03}"
  line=$(awk -v x="$x" -v e="$e" 'BEGIN { v = (x - 0.3) ^ 2 + 1 / e;
    printf "{\"epoch\": %d, \"train_loss\": %.12g, \"val_loss\": %.12g, \"val_acc\": %.12g, \"health\": \"ok\"}", e, v / 2, v, 1 - v }')
  if [ "$e" -eq 2 ] && [ "$mode" = nan ]; then line=$(echo "$line" | sed 's/"train_loss": [^,]*/"train_loss": null/'); fi
  if [ "$e" -eq 2 ] && [ "$mode" = dead ]; then line=$(echo "$line" | sed 's/"health": "ok"/"health": "dead"/'); fi
  echo "$line" >> "$out/metrics.jsonl"
  if [ "$e" -eq 2 ] && [ "$mode" = fail ]; then echo "fake_trainer: simulated crash" >&2; exit 3; fi
  e=$((e + 1))
done
touch "$out/done"
