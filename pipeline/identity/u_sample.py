"""A sample of distinct people for estimating u: one record per provisional identity.

u is the chance that two *different* people agree on a field. Estimated from random pairs of records,
it is inflated by the data's own duplicates: with ~3 records per person, two random records that share
an e-mail are mostly the same person, so an exact e-mail looks far less telling than it is. Grouping
records that share an e-mail, a mobile, or name and birth date (a cheap deterministic pass) and keeping
one record per group gives pairs of different people. Term frequencies are taken from it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.identity.clustering import component_labels

# A provisional identity joins records sharing one of these keys (columns equal, every one non-empty).
GROUP_KEYS = (("email",), ("mobile",), ("first_name", "last_name", "birth_date"))


def grouped_alone(identifiers: Sequence[str] = ()) -> list[str]:
    """The fields the sample groups records by on their own: no two of its people share a value of one, so the
    sample cannot tell how often different people do (recipe.unique_value_u learns it from every record)."""
    return [key[0] for key in GROUP_KEYS if len(key) == 1] + list(identifiers)


def _key_codes(records: pa.Table, key: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows holding every column of `key` non-empty, their value of the key as one integer code): equal codes,
    equal values."""
    held = np.ones(records.num_rows, dtype=bool)
    codes = np.zeros(records.num_rows, dtype=np.int64)
    for column in key:
        values = records[column].combine_chunks()
        filled = pc.is_valid(values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) \
                or pa.types.is_string_view(values.type):
            filled = pc.fill_null(pc.not_equal(values, ""), False)  # an empty text holds no key
        held &= filled.to_numpy(zero_copy_only=False)
        encoded = values.dictionary_encode()
        own = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        if codes.max(initial=0) >= np.iinfo(np.int64).max // (len(encoded.dictionary) + 1):  # a long key's code
            codes = np.unique(codes, return_inverse=True)[1].reshape(-1)             # made dense, not overflowed
        codes = codes * (len(encoded.dictionary) + 1) + own
    rows = np.flatnonzero(held)
    return rows, codes[rows]


def provisional_identities(records: pa.Table, identifiers: Sequence[str] = ()) -> pa.Table:
    """(unique_id, grp) for `records` (unique_id and the GROUP_KEYS columns): records sharing a key, or one of the
    `identifiers`, are one provisional identity, named by its first record's id (never a value)."""
    uids = records["unique_id"].combine_chunks()
    return pa.table({"unique_id": uids, "grp": uids.take(pa.array(provisional_labels(records, identifiers)))})


def provisional_labels(records: pa.Table, identifiers: Sequence[str] = ()) -> np.ndarray:
    """provisional_identities' groups as each record's group's first row number in `records`.

    In numpy on Arrow's dictionary codes, not a Python loop over every record: each record is joined to the first
    record sharing each of its keys (a star per key value), and component_labels joins the stars (the stars as
    DuckDB window functions cost twice as much at 1M records: 0.15 against 0.07 CPU s)."""
    left, right = [], []
    for key in (*GROUP_KEYS, *((c,) for c in identifiers)):
        rows, codes = _key_codes(records, key)
        _, first, of = np.unique(codes, return_index=True, return_inverse=True)
        star = rows[first][of.reshape(-1)]
        left.append(rows[star != rows])
        right.append(star[star != rows])
    return component_labels(records.num_rows, np.concatenate(left), np.concatenate(right))


# One definition of each query, written in DuckDB's SQL; `render` turns it into another engine's dialect
# (sqlglot, as Splink does), e.g. QUALIFY becomes a ranked subquery on Spark.
# The fields whose presence ranks a provisional identity's records: its most complete one is its person's sample.
RANKED_BY = ("first_name", "last_name", "birth_date", "email", "mobile", "street")
U_SAMPLE_SQL = f"""
        SELECT {{columns}} FROM {{source}} s JOIN {{groups}} g USING (unique_id)
        QUALIFY row_number() OVER (
            PARTITION BY g.grp
            ORDER BY {' + '.join(f"(s.{c} IS NOT NULL)::INT" for c in RANKED_BY)} DESC,
                     s.unique_id) = 1"""

# Pairs of records sharing `field`'s value among the records that also hold every one of `apart` (the fields that
# tell two people apart): how many such records there are, and how many of their pairs the comparisons' `cases`
# (Splink's CASE of each field's comparison vector) put on every field's lowest level, 0 ("All other comparisons").
APART_SHARING_SQL = """
        SELECT {index} AS k,
               (SELECT count(*) FROM {held} h) AS records,
               (SELECT coalesce(sum(CASE WHEN {all_lowest} THEN 1 ELSE 0 END), 0) FROM (
                    SELECT {cases} FROM (
                        SELECT {columns} FROM {held} l JOIN {held} r
                        ON l.{field} = r.{field} AND l.unique_id < r.unique_id) pairs) vectors) AS apart"""

TERM_FREQUENCIES_SQL = """
        SELECT {column}, count(*) / sum(count(*)) OVER () AS tf_{column}
        FROM {sample} WHERE {column} IS NOT NULL GROUP BY {column}"""



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


def apart_sharing_sql(source: str, fields: list[str], apart: dict[str, tuple[str, list[str], str]]) -> str:
    """APART_SHARING_SQL of each of `fields` (row k: the field's index), in one query. `apart`: for each field that
    tells people apart, (its CASE, the columns it reads as `l.x AS x_l, r.x AS x_r`, its gamma column), all from
    Splink in the engine's own dialect: not rendered (DuckDB's jaro_winkler is not Splink's Spark UDF), the rest is
    SQL every engine reads alike."""
    cases = ", ".join(case for case, _, _ in apart.values())
    columns = ", ".join(c for _, cols, _ in apart.values() for c in cols)
    all_lowest = " AND ".join(f"{gamma} = 0" for _, _, gamma in apart.values())
    sqls = []
    for i, field in enumerate(fields):
        held = " AND ".join(f"{c} IS NOT NULL" for c in (field, *apart))
        sqls.append(APART_SHARING_SQL.format(index=i, held=f"(SELECT * FROM {source} WHERE {held})", field=field,
                                             cases=cases, columns=columns, all_lowest=all_lowest))
    return " UNION ALL ".join(sqls)


def term_frequencies_sql(column: str, sample: str = "u_sample", dialect: str = "duckdb") -> str:
    return render(TERM_FREQUENCIES_SQL.format(column=column, sample=sample), dialect)
