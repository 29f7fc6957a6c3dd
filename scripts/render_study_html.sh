#!/usr/bin/env bash
# Renders a study's study.html (written by `descent tune`) with headless Chromium (Debian package
# `chromium`), to look at it the way a reader's browser shows it:
#   OUT/study.png        the first screen at 1280x800
#   OUT/study-full.png   the page at 1280 x FULL_HEIGHT (with --full-height)
# Fails when Chromium fails or writes no image, or when its log shows a failed load or a console
# error for the page (study.html must be self-contained: inline SVG, nothing fetched).
#
# Usage: scripts/render_study_html.sh [--out DIR] [--full-height PX] STUDY_DIR|study.html
# Environment: CHROMIUM (default chromium).
set -euo pipefail

out="" full=0 target="" chromium=${CHROMIUM:-chromium}
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --full-height) full=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "render_study_html: unknown option $1" >&2; exit 2 ;;
    *) target=$1; shift ;;
  esac
done
[[ -n "$target" ]] || { echo "usage: scripts/render_study_html.sh [--out DIR] [--full-height PX] STUDY_DIR|study.html" >&2; exit 2; }
page=$target
[[ -d "$page" ]] && page=$page/study.html
[[ -f "$page" ]] || { echo "render_study_html: $page: no such file" >&2; exit 2; }
page=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
[[ -n "$out" ]] || out=$(dirname "$page")
mkdir -p "$out"
command -v "$chromium" > /dev/null || { echo "render_study_html: $chromium not found (apt-get install chromium)" >&2; exit 2; }

render() {  # PNG HEIGHT
  local log=$out/.chromium.log profile
  profile=$(mktemp -d)
  rm -f "$1"
  "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --enable-logging=stderr --v=0 \
    --screenshot="$1" --window-size=1280,"$2" "file://$page" > "$log" 2>&1 || {
    cat "$log" >&2; rm -rf "$profile"; echo "render_study_html: chromium failed" >&2; exit 1; }
  rm -rf "$profile"
  [[ -s "$1" ]] || { cat "$log" >&2; echo "render_study_html: no image written" >&2; exit 1; }
  if grep -E "ERR_FILE_NOT_FOUND|ERR_ACCESS_DENIED|Failed to load|CONSOLE.*(Error|error)" "$log" >&2; then
    echo "render_study_html: the page did not load cleanly (above)" >&2
    exit 1
  fi
  echo "$1"
}
render "$out/study.png" 800
((full > 0)) && render "$out/study-full.png" "$full"
exit 0
