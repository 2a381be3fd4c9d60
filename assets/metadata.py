"""Dagster metadata for a warehouse table: row count and column schema, never row values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from pipeline.dictionary import column_description
from pipeline.sql import qualified, scalar

if TYPE_CHECKING:  # Great Expectations is loaded by the checks that validate, not by every process that loads the code
    from pipeline.quality.gx_runner import SuiteResult


def table_metadata(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    schema, name = table.split(".")
    # The bound relation's names and types (what DESCRIBE lists, without a statement of its own: ~46 tables a run)
    relation = con.table(qualified(schema, name))
    columns = [(c, str(t)) for c, t in zip(relation.columns, relation.types, strict=True)]
    rows = scalar(con, f"SELECT count(*) FROM {qualified(schema, name)}")
    return {
        "table": table,
        "dagster/row_count": rows,
        # the published marts' columns described as analysts read them in the copies (pipeline/dictionary.yaml)
        "dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn(c, t, description=column_description(name, c) if schema == "marts" else None)
            for c, t in columns]),
    }


def build_table(duckdb, table: str, select_sql: str, *views: str, **params) -> dg.MaterializeResult:
    """Create the asset's table from a SELECT (after the temp views it reads), its `$name` parameters bound
    from `params`, and describe it."""
    from pipeline.warehouse import create_table_as

    with duckdb.get_connection() as con:
        for view in views:
            con.execute(view)
        create_table_as(con, table, select_sql, **params)
        return dg.MaterializeResult(metadata=table_metadata(con, table))


def build_customer_rows(duckdb, table: str, select_sql: str, *views: str, as_purged: bool = False,
                        **params) -> dg.MaterializeResult:
    """As build_table, for a table keyed by customer_id: only the run's changed customers' rows are recomputed
    (pipeline/golden/changes.py), or all of them on a full run; `as_purged`: excluded customers' rows built as the
    purge leaves them."""
    from pipeline.golden.changes import merge_customers

    with duckdb.get_connection() as con:
        merge_customers(con, table, select_sql, *views, as_purged=as_purged, **params)
        return dg.MaterializeResult(metadata=table_metadata(con, table))


def merged_metadata(merged: int | None) -> dict:
    """How pipeline.golden.changes.replace_changed_rows wrote a table: whole, or the customers whose rows differ."""
    return {"written": "whole" if merged is None else "merged", "customers_merged": merged or 0}


def check_result(result: SuiteResult, prefix: str = "", check_name: str | None = None, **extra) -> dg.AssetCheckResult:
    """Counts and unexpected percentages only: never a value from the data. `check_name`: needed where the asset has
    several checks in one step."""
    return dg.AssetCheckResult(
        check_name=check_name, passed=result.success, description=prefix + result.describe(),
        metadata={"rows_validated": result.rows, "expectations": len(result.expectations),
                  "failed": len(result.failures), "data_docs": dg.MetadataValue.url(result.docs),
                  "results": dg.MetadataValue.json(result.expectations), **extra})


def column_lineage(con: duckdb.DuckDBPyConnection, table: str, upstream: dict[str, dg.AssetKey],
                   derived: dict[str, list[tuple[str, str]]] | None = None) -> dict:
    """`dagster/column_lineage` for `table`: a column takes its value from the upstream tables' column of the same
    name (upstream: table -> asset key); `derived` names the inputs of computed columns as (table, column)."""
    def columns(name: str) -> list[str]:
        schema, bare = name.split(".")
        return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                          "AND table_name = ? ORDER BY ordinal_position", [schema, bare]).fetchall()]

    sources = {name: set(columns(name)) for name in upstream}
    lineage = {}
    for column in columns(table):
        inputs = (derived or {}).get(column) or [(name, column) for name, cols in sources.items() if column in cols]
        deps = [dg.TableColumnDep(asset_key=upstream[name], column_name=col) for name, col in inputs if name in upstream]
        if deps:
            lineage[column] = deps
    return {"dagster/column_lineage": dg.TableColumnLineage(deps_by_column=lineage)}
