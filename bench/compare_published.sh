#!/usr/bin/env bash
# No behaviour change: the demo at a fixed seed run by main's checkout and by this one, published tables compared.
# Usage: bench/compare_published.sh [MAIN_CHECKOUT] [SEED] [CUSTOMERS]   (default /work/main 7 3000)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
MAIN="${1:-/work/main}"; SEED="${2:-7}"; N="${3:-3000}"
OUT="${OUT:-/tmp/c360_compare_$SEED}"
export C360_AS_OF="${C360_AS_OF:-2026-11-20}" C360_PSEUDONYM_KEY="compare-key"
mkdir -p "$OUT"
[ -d "$OUT/raw" ] || "$HERE/.venv/bin/customer360" generate --customers "$N" --seed "$SEED" \
    --raw-dir "$OUT/raw" --truth "$OUT/truth.csv"
for side in before after; do
  dir="$OUT/$side"; code="$MAIN"; [ "$side" = after ] && code="$HERE"
  [ "${SKIP_BEFORE:-}" = 1 ] && [ "$side" = before ] && [ -f "$dir/published.duckdb" ] && continue
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$code" && .venv/bin/customer360 run --quiet --raw-dir "$OUT/raw" --warehouse "$dir/warehouse.duckdb" \
       --truth "$OUT/truth.csv")
done
"$HERE/.venv/bin/python" "$HERE/bench/compare_published.py" "$OUT/before" "$OUT/after"
