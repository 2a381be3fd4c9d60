"""A sample of distinct people for estimating u: one record per provisional identity.

u is the chance that two *different* people agree on a field. Estimated from random pairs of records,
it is inflated by the data's own duplicates: with ~3 records per person, two random records that share
an e-mail are mostly the same person, so an exact e-mail looks far less telling than it is. Grouping
records that share an e-mail, a mobile, or name and birth date (a cheap deterministic pass) and keeping
one record per group gives pairs of different people. Term frequencies are taken from it too.
"""

from __future__ import annotations

import pandas as pd

from pipeline.identity.clustering import connected_components


def provisional_identities(rows: list[tuple]) -> dict[str, str]:
    """rows: (unique_id, email, mobile, first_name, last_name, birth_date, *identifiers) -> unique_id: group id."""
    uids = [uid for uid, *_ in rows]
    pairs = []
    for uid, email, mobile, first, last, born, *ids in rows:
        keys = [f"e:{email}" if email else None, f"m:{mobile}" if mobile else None,
                f"n:{first}|{last}|{born}" if first and last and born else None,
                *(f"i{i}:{v}" if v else None for i, v in enumerate(ids))]
        pairs += [(uid, key) for key in keys if key]
    keys = sorted({key for _, key in pairs})
    # Records first: a group's id is its first record's id, never a key (keys hold personal values).
    groups = connected_components(uids + keys, pairs)
    return {uid: groups[uid] for uid in uids}


# One definition of each query, written in DuckDB's SQL; `render` turns it into another engine's dialect
# (sqlglot, as Splink does), e.g. QUALIFY becomes a ranked subquery on Spark.
U_SAMPLE_SQL = """
        SELECT {columns} FROM {source} s JOIN {groups} g USING (unique_id)
        QUALIFY row_number() OVER (
            PARTITION BY g.grp
            ORDER BY (s.first_name IS NOT NULL)::INT + (s.last_name IS NOT NULL)::INT + (s.birth_date IS NOT NULL)::INT
                   + (s.email IS NOT NULL)::INT + (s.mobile IS NOT NULL)::INT + (s.street IS NOT NULL)::INT DESC,
                     s.unique_id) = 1"""

TERM_FREQUENCIES_SQL = """
        SELECT {column}, count(*) / sum(count(*)) OVER () AS tf_{column}
        FROM {sample} WHERE {column} IS NOT NULL GROUP BY {column}"""

GROUP_KEY_COLUMNS = ("unique_id", "email", "mobile", "first_name", "last_name", "birth_date")


def render(sql: str, dialect: str = "duckdb") -> str:
    """`sql` (DuckDB) in `dialect` (a sqlglot dialect name, e.g. Splink's `sql_dialect.sqlglot_dialect`)."""
    if dialect == "duckdb":
        return sql
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def u_sample_sql(source: str, groups: str, columns: list[str] | None = None, dialect: str = "duckdb") -> str:
    """SELECT of the most complete record of each provisional identity. `groups`: (unique_id, grp).

    Engines without QUALIFY get a subquery; name the `columns` there so its rank column is not kept."""
    cols = ", ".join(f"s.{c}" for c in columns) if columns else "s.*"
    return render(U_SAMPLE_SQL.format(columns=cols, source=source, groups=groups), dialect)


def term_frequencies_sql(column: str, sample: str = "u_sample", dialect: str = "duckdb") -> str:
    return render(TERM_FREQUENCIES_SQL.format(column=column, sample=sample), dialect)


def groups_frame(rows: list[tuple]) -> pd.DataFrame:
    """(unique_id, grp) for rows of GROUP_KEY_COLUMNS."""
    groups = provisional_identities(rows)
    return pd.DataFrame({"unique_id": list(groups), "grp": list(groups.values())})
