"""Text that a spreadsheet would run as a formula is escaped in the analysts' copy.

Analysts open exports in spreadsheets, where a cell starting with `=`, `+`, `-`, `@` (or a tab or carriage
return) is a formula: `=HYPERLINK(...)` typed into a consent collection point would run on their machine
(CSV/formula injection, OWASP). Such a value gets a leading apostrophe, which spreadsheets show as text.
Values that are plain numbers (`-12.5`, an E.164 phone `+33612345678`) are left as they are: a spreadsheet
reads them as numbers, not formulas. (In the analysts' copy phones are pseudonymised anyway; with
C360_ANALYST_IDENTIFIERS they stay readable E.164.) The restricted copy and the warehouse keep values as
delivered: the escape is for display in spreadsheets, not a change of the data.
"""

from __future__ import annotations

import duckdb

from pipeline.sql import quote

DANGEROUS = r"^[=+\-@\t\r]"
NUMBER = r"^[+-]?[0-9][0-9 .,]*$"


def escaped_sql(column: str) -> str:
    q = quote(column)
    return (f"CASE WHEN regexp_matches({q}, '{DANGEROUS}') AND NOT regexp_matches({q}, '{NUMBER}') "
            f"THEN '''' || {q} ELSE {q} END")


def escape_formulas(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> None:
    """Escape, in place, every text column of catalog.schema.table."""
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? "
        "AND table_name = ? AND data_type = 'VARCHAR'", [catalog, schema, table]).fetchall()]
    if columns:
        sets = ", ".join(f"{quote(c)} = {escaped_sql(c)}" for c in columns)
        con.execute(f"UPDATE {catalog}.{schema}.{quote(table)} SET {sets}")
