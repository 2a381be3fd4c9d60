"""One match form for a name that systems spell with its letter, without the letter's marks, or in its language's
ASCII spelling: `Müller` (a CRM), `MULLER` (a till without umlauts), `Mueller` (a web shop that writes ASCII).

Match forms drop marks (`Müller` -> `muller`), which is what a keyboard without them types; a German system spells
`ü` as `ue` instead, and `mueller` was another name to identity: a typo level at best (weaker than an exact name, and
no term frequencies), two blocks apart for every name key (`mue` / `mul`), and two edits for `Müller-Lüdenscheidt`.
The spellings are listed per letter (`seeds/letter_spellings.csv`: `ü` is `ue` in German, `ø` is `oe` in Danish),
not folded in every name: `michael`, `manuel`, `joel` hold an `ae`, `ue`, `oe` that are no umlaut. A spelling is read
as its letter's match form only where the data hold the name with that letter (a staged `Müller` makes the staged
`Mueller` one name with it), and only in identity: staged and golden values stay as delivered.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.normalise.address import normalise_city
from pipeline.normalise.names import letter_spellings, match_form, spelled
from pipeline.warehouse import registered, replace_table

TABLE = "identity.name_spellings"  # spelling (a match form) -> canonical (the match form of the name with its letter)


def refresh(con: duckdb.DuckDBPyConnection) -> int:
    """Write TABLE from the staged names and cities holding a listed letter (each spelling the data hold -> that
    name's match form); returns its rows (no value)."""
    letters = letter_spellings()
    pattern = "[" + "".join(sorted(letters)) + "]"
    written = con.execute("""
        SELECT DISTINCT v, norm, city FROM (
            SELECT first_name AS v, first_name_norm AS norm, false AS city FROM staging.person_records
            UNION ALL SELECT last_name, last_name_norm, false FROM staging.person_records
            UNION ALL SELECT city, city_norm, true FROM staging.person_records)
        WHERE strlen(v) > length(v) AND regexp_matches(v, $pattern) AND norm IS NOT NULL""",  # ASCII values first: cheap
        {"pattern": pattern}).fetchall()
    pairs = {((normalise_city if city else match_form)(spelled(v, letters)), norm) for v, norm, city in written}
    frame = pd.DataFrame(sorted((s, n) for s, n in pairs if s and s != n), columns=["spelling", "canonical"],
                         dtype=object)
    with registered(con, _spellings_frame=frame):
        con.execute("CREATE OR REPLACE TEMP TABLE _spellings AS SELECT * FROM _spellings_frame")
    # only the spellings some record holds, each read one way (the first canonical form if two names share one)
    kept = con.execute("""
        SELECT spelling, min(canonical) AS canonical FROM _spellings
        WHERE spelling IN (SELECT first_name_norm FROM staging.person_records
                           UNION SELECT last_name_norm FROM staging.person_records
                           UNION SELECT city_norm FROM staging.person_records)
        GROUP BY 1 ORDER BY 1""").df()
    replace_table(con, TABLE, kept, {"spelling": "VARCHAR", "canonical": "VARCHAR"})
    return len(kept)
