#!/usr/bin/env bash
# Renders a run's report.html (or any descent HTML page, e.g. init-check.html) with headless
# Chromium (Debian package `chromium`), the way a reader sees it:
#   OUT/report.png        the first screen at 1280x800
#   OUT/report-full.png   the page at 1280 wide and --full-height pixels tall (when given)
#   OUT/report.pdf        the print rendering (with --pdf), and OUT/report-pdf-N.png per page when
#                         pdftoppm (poppler-utils) is there
# and fails when Chromium fails, writes no image, or logs a console error or a failed load for the
# page (the report must be self-contained: no scripts, nothing fetched).
#
# Usage: scripts/render_report.sh [--out DIR] [--full-height PX] [--pdf] [--chromium PATH] RUN_DIR|PAGE.html
# Exit code 0 when every rendering was written without errors.
set -euo pipefail

out="" full=0 pdf=0 chromium="${CHROMIUM:-chromium}" target=""
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (( $# )); do
  case "$1" in
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --full-height) full="${2:?--full-height needs pixels}"; shift 2 ;;
    --pdf) pdf=1; shift ;;
    --chromium) chromium="${2:?--chromium needs a path}"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "render_report: unknown option $1" >&2; exit 2 ;;
    *) [[ -z "$target" ]] || { echo "render_report: one page at a time (got $target and $1)" >&2; exit 2; }
       target="$1"; shift ;;
  esac
done
[[ -n "$target" ]] || usage
if [[ -d "$target" ]]; then page="$target/report.html"; else page="$target"; fi
[[ -f "$page" ]] || { echo "render_report: $page: no such file (run descent train or descent report first)" >&2; exit 2; }
command -v "$chromium" > /dev/null || { echo "render_report: $chromium not found (apt-get install chromium)" >&2; exit 2; }
[[ "$full" =~ ^[0-9]+$ ]] || { echo "render_report: --full-height must be a number of pixels, got $full" >&2; exit 2; }
page="$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
out="${out:-$(dirname "$page")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stem="$(basename "$page" .html)"

# A throw-away profile, no network services, no sandbox (CI runs as root).
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --user-data-dir="$profile" --enable-logging=stderr --v=0)

failed=0
# Chromium logs much unrelated noise (D-Bus, GPU probing) on stderr; a problem with the page shows
# as a console message or a net:: error.
run() {  # run WHAT OUTPUT_FILE CHROMIUM_ARGS...
  local what="$1" file="$2" log="$out/$stem-$1.log"
  shift 2
  rm -f "$file"
  if ! "$chromium" "${flags[@]}" "$@" "file://$page" > "$log" 2>&1; then
    echo "render_report: chromium failed rendering the $what of $page (log: $log)" >&2; failed=1; return
  fi
  if [[ ! -s "$file" ]]; then
    echo "render_report: chromium wrote no $what for $page (log: $log)" >&2; failed=1; return
  fi
  if grep -E "CONSOLE|net::ERR_|Failed to load" "$log" >&2; then
    echo "render_report: errors while rendering the $what of $page (above; log: $log)" >&2; failed=1; return
  fi
  rm -f "$log"
  echo "$file"
}

run screenshot "$out/$stem.png" --window-size=1280,800 --screenshot="$out/$stem.png"
if (( full > 0 )); then
  run full "$out/$stem-full.png" --window-size=1280,"$full" --screenshot="$out/$stem-full.png"
fi
if (( pdf )); then
  run pdf "$out/$stem.pdf" --no-pdf-header-footer --print-to-pdf="$out/$stem.pdf"
  if [[ -s "$out/$stem.pdf" ]] && command -v pdftoppm > /dev/null; then
    rm -f "$out/$stem-pdf"-*.png
    pdftoppm -r 60 -png "$out/$stem.pdf" "$out/$stem-pdf"
    ls "$out/$stem-pdf"-*.png
  fi
fi
exit "$failed"
