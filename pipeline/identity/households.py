"""Households: the connected groups of entities (clusters of records, or customers) that share street + postcode +
surname or a contact point. One routine for the household-resolved attachment (household_attach.py, over clusters)
and golden.households (over customers), so the two draw households the same way.

Shared values are paired in DuckDB (each entity with the first entity holding the value); only those integer pairs
reach Python, for the connected components, so no frame of the whole base is built.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from pipeline.identity.clustering import component_table


def household_keys_sql(source: str, index: str, street: str, postcode: str, surname: str,
                       contacts: Mapping[str, str]) -> str:
    """SELECT (i, k) of every household key each entity holds: its street + postcode + surname, and each contact
    point (kind -> column). `source` is a FROM clause, `index` the entity's number 0..n-1; the rest are columns."""
    address = (f"SELECT {index} AS i, 'address|' || {street} || '|' || {postcode} || '|' || {surname} AS k "
               f"FROM {source} WHERE {street} IS NOT NULL AND {postcode} IS NOT NULL AND {surname} IS NOT NULL")
    return " UNION ALL ".join([address, *(f"SELECT {index}, '{kind}|' || {column} FROM {source} "
                                          f"WHERE {column} IS NOT NULL" for kind, column in contacts.items())])


def household_labels(con: duckdb.DuckDBPyConnection, keys_sql: str, n: int) -> pa.Table:
    """(i, root_i) for entities 0..n-1: root_i the smallest entity of the household, entities sharing a key of
    `keys_sql` (household_keys_sql) being one household."""
    # each entity joined to the first entity of every key it shares (a key held once joins nothing): a GROUP BY of the
    # keys, not a window over every key held
    ends = con.execute(f"""WITH keyed AS ({keys_sql}),
        firsts AS (SELECT k, min(i) AS first_i FROM keyed GROUP BY k HAVING count(*) > 1)
        SELECT i, first_i FROM keyed JOIN firsts USING (k) WHERE i <> first_i""").fetchnumpy()
    return component_table(n, ends["i"], ends["first_i"])
