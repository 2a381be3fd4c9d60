"""The short summary `customer360 run` prints: rows per layer, quarantined rows, elapsed time."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.sql import scalar

_LAYER_TABLES = [
    ("staging", "person_records"), ("staging", "activities"), ("staging", "field_issues"),
    ("staging", "quarantine"), ("staging", "erasure_requests"), ("identity", "pairwise_predictions"),
    ("marts", "customer_xref"), ("golden", "excluded_customers"), ("marts", "customer_360"),
    ("marts", "household"), ("marts", "consent_history"), ("marts", "segment_summary"), ("marts", "data_quality"),
]


def layer_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    tables = {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    raw = [t for t in sorted(tables) if t.startswith("raw.") and not t.endswith("__files")]
    counts = [("raw (all sources)", sum(scalar(con, f"SELECT count(*) FROM {t}") for t in raw))]
    for schema, table in _LAYER_TABLES:
        name = f"{schema}.{table}"
        if name in tables:
            counts.append((name, scalar(con, f"SELECT count(*) FROM {name}")))
    return counts


def layer_counts_of(warehouse: Path) -> list[tuple[str, int]]:
    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return layer_counts(con)


def run_summary(warehouse: Path, elapsed: float) -> str:
    if not warehouse.exists():
        return f"no warehouse at {warehouse} ({elapsed:.1f} s)"
    lines = [f"  {name:<28} {n:>10,}" for name, n in layer_counts_of(warehouse)]
    return "\n".join(["customer360 run", *lines, f"  {'elapsed':<28} {elapsed:>9.1f}s", f"  warehouse: {warehouse}"])
