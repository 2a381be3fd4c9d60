"""A source's raw rows read for staging, prepared in DuckDB: the mapped columns trimmed, the purge's token taken out.

stage_source prepares a pandas frame of the raw rows (every column, then a trimmed copy of each mapped one); at a
million rows that frame and the trimming cost ~11 CPU s. Here DuckDB reads only what staging reads, already in
stage_prepared's shape, and the raw values of the few rows to quarantine are read back by file and line.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.config import Source
from pipeline.extract import ALSO, META_COLUMNS
from pipeline.normalise import STRIPPED
from pipeline.sql import literal, quote, raw_table
from pipeline.staging import CLEANED, PURGED_TOKEN, mask_purged, purged_columns
from pipeline.warehouse import registered

# DuckDB's trim with these characters (whitespace and direction marks) trims as _col does.
EDGE_SPACE = literal(f"^[{STRIPPED}]|[{STRIPPED}]$")  # none of them is special in a character class


def trimmed(column: str, alias: str = "") -> str:
    """The column (of the relation `alias`) as _col reads it: trimmed, NULL when blank (trim with a set of characters
    costs 4 times a plain read: only the values with whitespace at either end pay it)."""
    value = f"{alias}.{quote(column)}" if alias else quote(column)
    return (f"CASE WHEN regexp_matches({value}, {EDGE_SPACE}) THEN nullif(trim({value}, {literal(STRIPPED)}), '') "
            f"ELSE nullif({value}, '') END")


def prepared_query(source: Source, present: set[str]) -> str:
    """SELECT of the rows of the files listed in the view `_new_files` (column `file`) as stage_prepared reads them
    (stage_source's preparation), in no set order; `present`: the raw table's columns. A mapped column's trimmed copy
    is CLEANED + column, except the record id's when it is `_record_id` itself (`cleaned` names it either way)."""
    purged = purged_columns(source, present)
    columns = [f"{quote(c)}" for c in META_COLUMNS if c in present]
    record_id = trimmed(source.record_id) if source.record_id in present else "NULL::VARCHAR"
    columns.append(f"{record_id} AS _record_id")  # read before the purge's token goes, as stage_source does
    token = literal(PURGED_TOKEN)
    columns.append(f"coalesce({' OR '.join(f'{quote(c)} = {token}' for c in purged)}, false) AS _purged"
                   if purged else "false AS _purged")
    read = [quote("_record_id")]  # the trimmed columns: a mark of 'no value' in them reads as NULL (below)
    for column in source.mapped_columns:
        if column in present and cleaned(source, column, present) != "_record_id":
            value = (f"CASE WHEN {quote(column)} = {token} THEN NULL ELSE {trimmed(column)} END"
                     if column in purged else trimmed(column))
            read.append(quote(CLEANED + column))
            columns.append(f"{value} AS {read[-1]}")
        if ALSO + column in present:  # the further elements a selector matched (staging._further_elements)
            columns.append(quote(ALSO + column))
    query = (f"SELECT {', '.join(columns)} FROM {raw_table(source.name)} "
             "WHERE _file IN (SELECT file FROM _new_files)")
    if not source.missing_values:
        return query
    # staging.unmarked: a cell holding a mark of 'no value' (`NULL`, `None`) reads as NULL
    marks = f"[{', '.join(map(literal, source.missing_values))}]"
    unmarked = ", ".join(f"CASE WHEN list_contains({marks}, {c}) THEN NULL ELSE {c} END AS {c}" for c in read)
    return f"SELECT * REPLACE ({unmarked}) FROM ({query})"


def raw_columns(con: duckdb.DuckDBPyConnection, source: Source) -> set[str]:
    """The columns of the source's raw table."""
    return {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {raw_table(source.name)})").fetchall()}


def cleaned(source: Source, column: str | None, present: set[str]) -> str:
    """SQL naming a mapped column's trimmed copy in prepared_query's rows (NULL when the raw table lacks it). The
    record id's trimmed column is _record_id itself (unless the purge masks it): not read twice."""
    if column is None or column not in present:
        return "NULL::VARCHAR"
    if column == source.record_id and column not in purged_columns(source, present):
        return "_record_id"
    return quote(CLEANED + column)


def prepared_rows(con: duckdb.DuckDBPyConnection, source: Source, files: list[str]) -> pd.DataFrame:
    """The rows of `files`, in file and line order, as stage_prepared reads them (stage_source's preparation)."""
    present = raw_columns(con, source)
    with registered(con, _new_files=new_files(files)):
        frame = con.execute(f"{prepared_query(source, present)} ORDER BY _file, _line").df()
    if cleaned(source, source.record_id, present) == "_record_id":
        frame[CLEANED + source.record_id] = frame["_record_id"]
    return frame


def new_files(files: list[str]) -> pd.DataFrame:
    """The frame prepared_query reads as `_new_files`."""
    return pd.DataFrame({"file": files}, dtype=object)


def raw_rows(con: duckdb.DuckDBPyConnection, source: Source, rows: pd.DataFrame) -> pd.DataFrame:
    """The raw values of `rows` (prepared ones), masked as stage_source masks them, aligned with `rows`."""
    if rows.empty:
        return rows
    keys = rows[["_file", "_line"]].reset_index(names="_row")
    with registered(con, _rows=keys):
        raw = con.execute(f"SELECT k._row, r.* FROM _rows k JOIN {raw_table(source.name)} r "
                          "USING (_file, _line) ORDER BY k._row").df()
    if len(raw) != len(rows):
        raise ValueError(f"source {source.name}: a raw file and line held more than one row")
    raw = mask_purged(source, raw.set_index("_row").rename_axis(rows.index.name))
    raw["_record_id"] = rows["_record_id"]
    return raw
