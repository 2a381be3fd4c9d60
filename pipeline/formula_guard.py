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

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")  # a formula's first character
NUMBER = r"^[+-]?[0-9][0-9 .,]*$"
# The first character looked up in a list rather than matched by a regular expression: the copy escapes every text
# column of every row (~10 % of the analysts' customer_360 copy at a million records).
_STARTS_DANGEROUS = "left({}, 1) IN (" + ", ".join(f"chr({ord(c)})" for c in DANGEROUS) + ")"


def escaped_sql(column: str) -> str:
    q = quote(column)
    return (f"CASE WHEN {_STARTS_DANGEROUS.format(q)} AND NOT regexp_matches({q}, '{NUMBER}') "
            f"THEN '''' || {q} ELSE {q} END")


def escaped_select(con: duckdb.DuckDBPyConnection, select_sql: str, params: dict | None = None) -> str:
    """`select_sql` (its `$name` parameters bound from `params`) with every text column escaped, in the pass that
    writes the copy (an UPDATE of the copy afterwards rewrote every text column a second time)."""
    kinds = con.execute(f"SELECT * FROM ({select_sql}) LIMIT 0", params or {}).description
    return "SELECT " + ", ".join(f"{escaped_sql(name)} AS {quote(name)}" if str(kind) == "VARCHAR" else quote(name)
                                 for name, kind, *_ in kinds) + f" FROM ({select_sql})"
