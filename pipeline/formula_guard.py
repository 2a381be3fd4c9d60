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

# A formula's first character, by a regular expression: `left(v, 1) IN (chr(61), ...)` gives the same values but
# costs ~2.5 ms a column per statement whatever the rows (the analysts' customer_360 merge of 1k rows, 38 text
# columns: 0.10 CPU s against 0.03; all 75k rows of the 1M demo: 0.56 against 0.44).
DANGEROUS = r"^[=+@\t\r-]"
NUMBER = r"^[+-]?[0-9][0-9 .,]*$"


def escaped_sql(column: str) -> str:
    q = quote(column)
    return (f"CASE WHEN regexp_matches({q}, '{DANGEROUS}') AND NOT regexp_matches({q}, '{NUMBER}') "
            f"THEN '''' || {q} ELSE {q} END")


def escaped_select(con: duckdb.DuckDBPyConnection, select_sql: str, params: dict | None = None) -> str:
    """`select_sql` (its `$name` parameters bound from `params`) with every text column escaped, in the pass that
    writes the copy (an UPDATE of the copy afterwards rewrote every text column a second time)."""
    kinds = con.execute(f"SELECT * FROM ({select_sql}) LIMIT 0", params or {}).description
    return "SELECT " + ", ".join(f"{escaped_sql(name)} AS {quote(name)}" if str(kind) == "VARCHAR" else quote(name)
                                 for name, kind, *_ in kinds) + f" FROM ({select_sql})"
