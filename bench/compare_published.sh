#!/usr/bin/env bash
# No behaviour change: the demo at a fixed seed run by main's checkout and by this one, published tables compared.
# Usage: bench/compare_published.sh [MAIN_CHECKOUT] [SEED] [CUSTOMERS]   (default /work/main 7 3000)
# NEXT_DAY=SHARE holds that share of rows back into a second drop day: both checkouts run day one, then day two
# (an incremental run: new and changed records scored with the saved model), and both days are compared.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
MAIN="${1:-/work/main}"; SEED="${2:-7}"; N="${3:-3000}"; NEXT_DAY="${NEXT_DAY:-}"
OUT="${OUT:-/tmp/c360_compare_$SEED${NEXT_DAY:+_next}}"
export C360_AS_OF="${C360_AS_OF:-2026-11-20}" C360_PSEUDONYM_KEY="compare-key"
mkdir -p "$OUT"
[ -d "$OUT/raw" ] || "$HERE/.venv/bin/customer360" generate --customers "$N" --seed "$SEED" \
    --raw-dir "$OUT/raw" --truth "$OUT/truth.csv" ${NEXT_DAY:+--next-day-share "$NEXT_DAY"}

run() {  # run SIDE: one `customer360 run` of that side's checkout into its own warehouse and its own instance
  local dir="$OUT/$1" code="$MAIN"; [ "$1" = after ] && code="$HERE"
  mkdir -p "$dir"
  (cd "$code" && DAGSTER_HOME="$dir/dagster_home" .venv/bin/customer360 run --quiet --raw-dir "$OUT/raw" --warehouse "$dir/warehouse.duckdb" \
       --truth "$OUT/truth.csv")
}
compare() { "$HERE/.venv/bin/python" "$HERE/bench/compare_published.py" "$OUT/before" "$OUT/after"; }

if [ -z "$NEXT_DAY" ]; then
  for side in before after; do
    [ "${SKIP_BEFORE:-}" = 1 ] && [ "$side" = before ] && [ -f "$OUT/before/published.duckdb" ] && continue
    rm -rf "${OUT:?}/$side"; run "$side"
  done
  compare
  exit
fi
# Two days: park the latest drop day's folders (not delivered yet), run both, deliver them, run both again.
rm -rf "${OUT:?}/before" "${OUT:?}/after" "${OUT:?}/parked"
last=$(find "$OUT/raw" -mindepth 2 -maxdepth 2 -type d -name '????-??-??' -printf '%f\n' | sort -u | tail -1)
for d in "$OUT"/raw/*/"$last"; do mkdir -p "$OUT/parked/$(basename "$(dirname "$d")")"; mv "$d" "$OUT/parked/$(basename "$(dirname "$d")")/"; done
# a run that fails (set -e) must not leave the raw folder without its last day: put parked folders back on exit
trap 'for d in "$OUT"/parked/*/"$last"; do [ -d "$d" ] && mv "$d" "$OUT/raw/$(basename "$(dirname "$d")")/"; done' EXIT
run before; run after
echo "day one:"; status=0; compare || status=$?  # day two is still compared: its own differences count
for d in "$OUT"/parked/*/"$last"; do mv "$d" "$OUT/raw/$(basename "$(dirname "$d")")/"; done
run before; run after
echo "day two ($last, incremental):"; compare || status=$?
exit "$status"
