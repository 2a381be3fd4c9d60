"""A sample of distinct people for estimating u: one record per provisional identity.

u is the chance that two *different* people agree on a field. Estimated from random pairs of records,
it is inflated by the data's own duplicates: with ~3 records per person, two random records that share
an e-mail are mostly the same person, so an exact e-mail looks far less telling than it is. Grouping
records that share an e-mail, a mobile, or name and birth date (a cheap deterministic pass) and keeping
one record per group gives pairs of different people. Term frequencies are taken from it too.
"""

from __future__ import annotations

import duckdb
import pandas as pd


def provisional_identities(rows: list[tuple]) -> dict[str, str]:
    """rows: (unique_id, email, mobile, first_name, last_name, birth_date) -> unique_id: group id."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for uid, email, mobile, first, last, born in rows:
        find(uid)
        keys = [f"e:{email}" if email else None, f"m:{mobile}" if mobile else None,
                f"n:{first}|{last}|{born}" if first and last and born else None]
        for key in filter(None, keys):
            parent[find(key)] = find(uid)
    return {uid: find(uid) for uid, *_ in rows}


def build_u_sample(con: duckdb.DuckDBPyConnection, source: str = "linkage_input", target: str = "u_sample") -> int:
    """Create `target` with the most complete record of each provisional identity; returns its size."""
    rows = con.execute(f"SELECT unique_id, email, mobile, first_name, last_name, birth_date FROM {source}").fetchall()
    groups = provisional_identities(rows)
    con.register("_groups", pd.DataFrame({"unique_id": list(groups), "grp": list(groups.values())}))
    con.execute(f"""
        CREATE OR REPLACE TABLE {target} AS
        SELECT s.* FROM {source} s JOIN _groups g USING (unique_id)
        QUALIFY row_number() OVER (
            PARTITION BY g.grp
            ORDER BY (s.first_name IS NOT NULL)::INT + (s.last_name IS NOT NULL)::INT + (s.birth_date IS NOT NULL)::INT
                   + (s.email IS NOT NULL)::INT + (s.mobile IS NOT NULL)::INT + (s.street IS NOT NULL)::INT DESC,
                     s.unique_id) = 1""")
    con.unregister("_groups")
    return con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]


def term_frequencies(con: duckdb.DuckDBPyConnection, column: str, sample: str = "u_sample") -> str:
    """A Splink term-frequency table for `column` from the sample of distinct people; returns its name."""
    table = f"tf_{column}"
    con.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT {column}, count(*) / sum(count(*)) OVER () AS tf_{column}
        FROM {sample} WHERE {column} IS NOT NULL GROUP BY {column}""")
    return table
