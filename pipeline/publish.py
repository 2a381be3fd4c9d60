"""Publish the marts to separate DuckDB files, swapped in atomically: the analysts' copy and the restricted one.

DuckDB allows one writer per file, and an analyst's open session on the warehouse would block the run. The
marts are copied into `<name>.tmp`, then os.replace() swaps the file: readers that opened the old copy keep
reading it, new readers get the new one, nobody sees a half-built table and nobody locks the run out.

Who may see what: the analysts' copy (`published.duckdb`) carries no direct identifier. Names, streets and
towns are left out; e-mails and phones become keyed pseudonyms (HMAC-SHA256 with the secret
C360_PSEUDONYM_KEY), stable across runs, so analysts can still count and join on them; a birth date becomes
the birth year and an age band, a postcode its département. The restricted copy (`restricted.duckdb`) keeps
the full golden record, for customer service."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from pipeline.config import Source
from pipeline.dictionary import describe
from pipeline.formula_guard import escaped_select
from pipeline.sql import literal, literals, named, quote, scalar
from pipeline.warehouse import table_exists

DROPPED = ("first_name", "last_name", "street", "city")
PSEUDONYMISED = ("email", "mobile", "landline", "phone", "contact_point")
PERSON_IDENTIFIERS = ("first_name", "last_name", "full_name", "birth_date", "email", "phone", "street")
AGE_BANDS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
PSEUDONYM_FUNCTION = "c360_pseudonym"
# Marts kept out of the analysts' copy altogether: the attribute history holds every past name, e-mail and
# address (old and new values), which is the stewards' and customer service's business, not analysts'.
# The contact points list every e-mail and phone a customer ever used, likewise.
RESTRICTED_ONLY = ("customer_history", "contact_points", "customer_timeline")


# Where each copy says what it was built from, per table (tables of hashes, counts and dates, no personal value):
# the marts generation it holds (pipeline/golden/changes.py), a hash of the query that wrote the table (columns, the
# analysts' transformations, the pseudonym key's fingerprint), its rows when last written whole and the rows merged
# into it since, whether its last write merged, and the values its query's parameters were bound to (the analysts'
# `$as_of`: the rows are as of that day).
# Customers the copies never hold (erased, past retention): the marts leave them out, and so does every copied
# table with a customer_id (marts.customer_xref keeps their record ids for the warehouse's checks and the purge).
EXCLUDED = "golden.excluded_customers"
BASIS = "copy_basis"
BASIS_COLUMNS = ("table_name VARCHAR, generation VARCHAR, recipe VARCHAR, rows_whole BIGINT, rows_merged BIGINT, "
                 "merged BOOLEAN, bound VARCHAR")


class _Basis(NamedTuple):
    generation: str | None
    recipe: str | None
    rows_whole: int
    rows_merged: int
    merged: bool
    bound: str | None  # JSON [[name, value], ...]; None in a copy written before it was recorded


@dataclass(frozen=True)
class MergeBasis:
    """The marts being copied are generation `current` (pipeline/golden/changes.py), and the customers in `changed`
    (a table of customer_id) are those that changed since generation `previous`: in a copy holding `previous`, the
    tables `per_customer` get only those customers' rows deleted and written again. None: not known. A table of
    `own_changes` is merged likewise, for the customers of its own relation (its rows can change without the
    customer's inputs changing: customer_360's ranks), or for the values of its column `keys[table]` that relation
    holds (households)."""

    previous: str | None
    current: str | None
    changed: str
    per_customer: frozenset[str]
    own_changes: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def changed_in(self, table: str) -> str | None:
        """The relation of keys whose rows of `table` a copy of `previous` replaces; None: not merged."""
        return self.own_changes.get(table) or (self.changed if table in self.per_customer else None)

    def key_of(self, table: str) -> str:
        """The column naming a row's customer (or household) in `table`: rows are merged by its values."""
        return self.keys.get(table, "customer_id")


@dataclass(frozen=True)
class Copied:
    """What publish_marts wrote: rows per table, and the tables whose changed customers' rows alone were replaced
    (what merged_tables reads back from the file, known without opening it again)."""

    rows: dict[str, int]
    merged: list[str]


def publish_marts(con: duckdb.DuckDBPyConnection, target: Path, schema: str = "marts",
                  select: Callable[[str, list[str]], str] | None = None, skip: tuple[str, ...] = (),
                  escape: bool = False, params: dict | None = None, merge: MergeBasis | None = None,
                  fingerprint: str = "", views: dict[str, str] | None = None,
                  moved: Callable[[str, list[str], str], str | None] | None = None) -> Copied:
    """Copy every table of `schema` (but `skip`) into the file `target` (as schema `marts`); `select(table, columns)`
    gives the SELECT list of a table's copy (default: every column as it is), its `$name` parameters bound from
    `params`; `escape` escapes text a spreadsheet would run as a formula (pipeline/formula_guard.py). `views`: the
    copy's views, name -> query over the copy's tables (schema marts), such as marts.customer_360's.

    With `merge`, the previous copy is copied to `<name>.tmp` first, and each per-customer table it holds from the
    generation the changed customers lead from, written by the same query (`fingerprint`: whatever else shapes its
    rows, such as the pseudonym key's), gets only the changed customers' rows replaced; any other table is written
    whole, and so is a table whose merged rows would outgrow its rows (deleted rows stay in the file until a whole
    write). Without it, or when the copy holds another generation, every table is written whole. Either way the
    file is swapped in atomically. A table whose query's `params` were bound to other values in the copy (the
    analysts' `$as_of`: the reference date moved) is merged only when `moved(source, columns, key)` gives the keys
    whose rows those values change (a query over the warehouse's `source`, the copy's values bound as
    `$copied_<name>`), with the changed customers'; None: written whole."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_catalog = current_database() "
        "AND table_type = 'BASE TABLE' ORDER BY 1", [schema]).fetchall() if r[0] not in skip]
    views = {name: query for name, query in (views or {}).items() if name not in skip}
    columns_of: dict[str, list[str]] = {}  # one query, not one per table: each reads the whole catalogue
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_catalog = current_database() ORDER BY table_name, ordinal_position", [schema]).fetchall():
        columns_of.setdefault(table, []).append(column)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if merge and merge.previous and target.is_file():
        _copy_file(target, tmp)
    with _attached(con, tmp):
        basis = _read_basis(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS published.marts")
        for old, kind in con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                     "WHERE table_catalog = 'published' AND table_schema = 'marts'").fetchall():
            if old not in tables:  # a table the marts no longer have, or that this copy now leaves out; a view
                con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} published.marts.{quote(old)}")
        rows, counts = [], {}
        excluded = table_exists(con, EXCLUDED)
        for table in tables:
            columns, source = columns_of[table], f"{schema}.{quote(table)}"
            scrubbed = excluded and "customer_id" in columns  # published customers only, whatever a mart keeps
            if scrubbed:
                source = f"(SELECT * FROM {source} WHERE customer_id NOT IN (SELECT customer_id FROM {EXCLUDED}))"
            listed = select(table, columns) if select else "*"
            query = _copy_query(con, listed, source, escape, params)
            recipe = hashlib.sha256(f"{query}|{fingerprint}".encode()).hexdigest()[:20]
            # the values of the parameters the query reads (one it does not read changes nothing)
            bound = json.dumps(sorted((k, str(v)) for k, v in named(query, **(params or {})).items()))
            known = basis.get(table)
            mergeable = (merge is not None and merge.previous is not None and known is not None
                         and (known.generation, known.recipe) == (merge.previous, recipe)
                         and merge.changed_in(table) is not None and merge.key_of(table) in columns)
            also = None
            if mergeable and known.bound != bound:  # rows as of other values: merged with the keys they move
                keys = moved(source, columns, merge.key_of(table)) if moved and known.bound else None
                if keys is None:
                    mergeable = False
                else:
                    also = (keys, {f"copied_{k}": v for k, v in json.loads(known.bound)})
            merged = mergeable and _merge_rows(con, source, table, listed, merge, known, escape, params, also)
            if merged and scrubbed:  # excluded since, its rows unchanged (retention)
                con.execute(f"DELETE FROM published.marts.{quote(table)} "
                            f"WHERE customer_id IN (SELECT customer_id FROM {EXCLUDED})")
            if not merged:
                con.execute(f"DROP TABLE IF EXISTS published.marts.{quote(table)}")
                copy = f"CREATE TABLE published.marts.{quote(table)} AS {query}"
                con.execute(copy, named(copy, **(params or {})))
            counts[table] = scalar(con, f"SELECT count(*) FROM published.marts.{quote(table)}")
            rows.append((table, merge.current if merge else None, recipe, *(merged or (counts[table], 0)),
                         bool(merged), bound))
        for name, query in views.items():
            con.execute(f"CREATE VIEW published.marts.{quote(name)} AS {query}")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS published.{BASIS}")
        con.execute(f"CREATE OR REPLACE TABLE published.{BASIS}.tables ({BASIS_COLUMNS})")
        con.executemany(f"INSERT INTO published.{BASIS}.tables VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        describe(con, "published")  # what analysts read in their SQL client (pipeline/dictionary.yaml)
    os.replace(tmp, target)
    return Copied(counts, [table for table, *_, merged, _bound in rows if merged])


@contextmanager
def _attached(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[None]:
    """`path` attached as `published`, detached (checkpointed) on leaving, without vacuuming deleted rows: that
    checkpoint rewrites (recompresses) every row group a merge deleted from, most of a table whose changed customers
    are spread through it (0.7 of the copies' 0.8 CPU s at DETACH on the 1M day). The deleted rows' space comes back
    when the table is next written whole (_merge_rows)."""
    con.execute("SET max_vacuum_tasks = 0")  # a global setting of the database instance: reset on leaving
    try:
        con.execute(f"ATTACH {literal(path)} AS published")
        try:
            yield
        finally:
            con.execute("DETACH published")
    finally:
        con.execute("RESET max_vacuum_tasks")


def merged_tables(target: Path) -> list[str]:
    """The tables of a copy whose last write merged changed customers' rows rather than writing them whole."""
    with duckdb.connect(str(target), read_only=True) as con:
        return [r[0] for r in con.execute(
            f"SELECT table_name FROM {BASIS}.tables WHERE merged ORDER BY 1").fetchall()]


def _merge_rows(con: duckdb.DuckDBPyConnection, source_table: str, table: str, listed: str, merge: MergeBasis,
                known: _Basis, escape: bool, params: dict | None,
                also: tuple[str, dict] | None = None) -> tuple[int, int] | None:
    """Replace the changed customers' rows of the copy's `table` by theirs in `source_table`, and those of the keys
    of the query `also` (with its parameters' values); (rows at the last whole write, rows merged since), or None
    when the merged rows outgrow the table (the caller then writes it whole)."""
    key = quote(merge.key_of(table))  # the keys taken first: their relation may read the copy's rows (households)
    keys = f"SELECT {key} FROM {merge.changed_in(table)}" + (f" UNION SELECT {key} FROM ({also[0]})" if also else "")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _merged_keys AS SELECT DISTINCT {key} FROM ({keys})",
                named(keys, **(also[1] if also else {}), **(params or {})))
    changed = f"SEMI JOIN _merged_keys k ON t.{key} IS NOT DISTINCT FROM k.{key}"
    source = f"(SELECT t.* FROM {source_table} t {changed}) AS {quote(table)}"
    con.execute(f"DELETE FROM published.marts.{quote(table)} t USING _merged_keys k "
                f"WHERE t.{key} IS NOT DISTINCT FROM k.{key}")
    insert = f"INSERT INTO published.marts.{quote(table)} {_copy_query(con, listed, source, escape, params)}"
    rows_whole = known.rows_whole
    rows_merged = known.rows_merged + scalar(con, insert, named(insert, **(params or {})))  # rows inserted
    return None if rows_merged > rows_whole else (rows_whole, rows_merged)


def _copy_query(con: duckdb.DuckDBPyConnection, listed: str, source: str, escape: bool, params: dict | None) -> str:
    query = f"SELECT {listed} FROM {source}"
    return escaped_select(con, query, named(query, **(params or {}))) if escape else query


def _read_basis(con: duckdb.DuckDBPyConnection) -> dict[str, _Basis]:
    """table -> what the copy attached as `published` records of it (empty when new)."""
    if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'published' "
                       "AND table_schema = ? AND table_name = 'tables'", [BASIS]):
        return {}
    result = con.execute(f"SELECT * FROM published.{BASIS}.tables")
    names = [d[0] for d in result.description]
    return {row["table_name"]: _Basis(*(row.get(f) for f in _Basis._fields))
            for row in (dict(zip(names, r, strict=True)) for r in result.fetchall())}


def _copy_file(source: Path, dest: Path) -> None:
    """Copy `source` to a new file `dest` created with the permissions of `source` (a restricted copy is never,
    even for a moment, readable by others)."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, source.stat().st_mode & 0o777)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)


def pseudonym_fingerprint(key: bytes) -> str:
    """What a copy records of the pseudonym key (a keyed hash of a constant, not the key): pseudonyms written
    under another key are never merged with new ones."""
    return hmac.new(key, b"customer360 copy basis", hashlib.sha256).hexdigest()[:16]


def pseudonym_key(key_file: Path, configured: str = "") -> bytes:
    """The secret of the pseudonyms: `configured` (C360_PSEUDONYM_KEY), or else a random key created once in
    `key_file` (owner-only) and reused, so pseudonyms stay the same from run to run."""
    if configured:
        return configured.encode()
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return key_file.read_bytes().strip()


def register_pseudonym(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """SQL function c360_pseudonym(text): keyed hash (HMAC-SHA256, 32 hex digits); the key never enters SQL.

    Called on a batch of values (an Arrow array) rather than once per value, each value's HMAC copied from one
    keyed with the key once (`HMAC.copy`, the standard library's way to share the keyed state): about half the CPU
    of hmac.new per value, on the million values of a large copy."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def digest(value: str) -> str:
        h = keyed.copy()
        h.update(value.encode("utf-8"))
        return h.hexdigest()[:32]

    def pseudonyms(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else digest(v) for v in values.to_pylist()], pa.string())

    con.create_function(PSEUDONYM_FUNCTION, pseudonyms, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"),
                        type="arrow", side_effects=False)


def sources_keyed_by_identifier(sources: list[Source]) -> list[str]:
    """Sources whose record id is itself a personal value (e.g. a list keyed by e-mail): their record ids are
    pseudonymised too."""
    return sorted(s.name for s in sources if s.record_id in {s.person.get(f) for f in PERSON_IDENTIFIERS})


def age_band(birth_date: str, day: str) -> str:
    """The age band on `day` of `birth_date` (SQL expressions)."""
    age = f"date_sub('year', {birth_date}, {day})"
    bands = " ".join(f"WHEN {age} < {limit} THEN '{band}'" for limit, band in AGE_BANDS)
    return f"CASE {bands} WHEN {age} >= 65 THEN '65+' END"


def analyst_select(keyed_sources: list[str] = ()) -> Callable[[str, list[str]], str]:
    """The SELECT list of a marts table in the analysts' copy: direct identifiers left out or pseudonymised;
    ages are as of the parameter `$as_of` (a date, publish_marts' `params`), read by the age band alone
    (age_bands_moved knows which rows a move of it changes)."""
    keyed = literals(keyed_sources)

    def record_id(column: str, source_column: str) -> str:
        q = quote(column)
        return (f"CASE WHEN {quote(source_column)} IN ({keyed}) THEN {PSEUDONYM_FUNCTION}({q}) ELSE {q} END AS {q}"
                if keyed else q)

    def select(table: str, columns: list[str]) -> str:
        out = []
        for c in columns:
            q = quote(c)
            if c in DROPPED:
                continue
            if c in PSEUDONYMISED:
                out.append(f"{PSEUDONYM_FUNCTION}({q}) AS {quote(c + '_pseudonym')}")
            elif c == "birth_date":
                out += [f"year({q}) AS birth_year", f"{age_band(q, '$as_of::DATE')} AS age_band"]
            elif c == "postcode":  # département: 2 digits, 3 overseas (971-976, 98x); French postcodes only
                french = "coalesce(country, 'FR') = 'FR' AND " if "country" in columns else ""
                out.append(f"CASE WHEN {french}({q} LIKE '97%' OR {q} LIKE '98%') THEN substr({q}, 1, 3) "
                           f"WHEN {french}true THEN substr({q}, 1, 2) END AS departement")
            elif c == "source_record_id" and "source" in columns:
                out.append(record_id(c, "source"))
            elif c.endswith("_source_record_id") and c.removesuffix("_record_id") in columns:
                out.append(record_id(c, c.removesuffix("_record_id")))
            else:
                out.append(q)
        return ", ".join(out)

    return select


def age_bands_moved(source: str, columns: list[str], key: str) -> str | None:
    """The keys of `source`'s rows whose analysts' copy the reference date's move from `$copied_as_of` to `$as_of`
    changes (publish_marts' `moved`): the age band is the one value analyst_select derives from the date, so those
    whose band the move crossed (a birthday on a band's edge), found from the warehouse's birth dates (the copy
    holds none). A row whose birth date changed since is a changed customer's, merged anyway."""
    if "birth_date" not in columns:
        return None  # the date is read by a column this function does not know: the table is written whole
    born = quote("birth_date")
    return (f"SELECT {quote(key)} FROM {source} "
            f"WHERE {age_band(born, '$copied_as_of::DATE')} IS DISTINCT FROM {age_band(born, '$as_of::DATE')}")
