"""Erasure and retention purge: the one place that rewrites earlier layers (a deliberate exception to the
sources -> staging -> identity -> golden -> marts flow).

Leaving an erased or expired customer out of the marts is not enough: their values would stay in raw,
staging, the linkage input, the scored pairs, the golden tables and the history. After the marts are built,
every row of such a customer, in every table of the warehouse, keeps only what proves the erasure and keeps
the pipeline's bookkeeping consistent: record keys and ids, dates (timestamps), counts, scores and flags.
Every other value (text, birth dates, lists) is set to NULL: names, e-mails, phones, addresses, raw lines,
free-text reasons, the ids of devices only they used. Rows are kept, not deleted, so raw = staged + quarantined and "every staged
record once in the cross-reference" still reconcile, and record keys stay to prove what was erased.
The golden tables whose excluded rows nothing reads before the purge are built already so (as_purged): who is
excluded is decided before them, and the purge finds nothing left to rewrite there.

Before the values go, an erased customer's every identifier is registered (SHA-256 of each e-mail, phone and
record key in identity.erasure_registry), not only the one in the request (an e-mail or phone another customer holds
too, such as a household's landline, is theirs as well and is left out): when a source later deletes the
record carrying the requested e-mail, the person's other records (a second account, tickets, a re-delivered
card) still match the registry and the person is not resurrected. Retention purges the same way but registers
nothing (a customer who comes back with new records is a new relationship).

A purged record keeps, in `identity.purged_records`, the hash it was last linked with; the next run's linkage
input takes it back (restore_purged_hashes), so the record reads as unchanged: its pairs keep their scores
(their compared values are gone), its cluster and customer id stay, and purging changes no published table.
Idempotent: a row already purged is not touched again.

A record its source deleted (a tombstone, or omitted by a full export; retired: it belongs to no customer) is scrubbed
too, on the run that retires it, as data minimisation (RETIRED_SQL): the customers' passes would never reach it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import duckdb
import pandas as pd

from pipeline.config import Source
from pipeline.golden.privacy import (
    ERASURE_MATCHES,
    LANDLINE_MATCH,
    LANDLINE_NAME,
    LANDLINE_NAME_KEYS_SQL,
    LANDLINE_UNDATED,
    REGISTRY_COLUMNS,
)
from pipeline.identity import placeholders, returning
from pipeline.sql import literal, quote, raw_table, scalar
from pipeline.staging import (
    PURGED_TOKEN,
    RETIRED_REASONS,
    RETIRED_RECORDS_SQL,
    SUPERSEDED_REASON,
    contact_keys,
    looked_up_values,
    prepare,
)
from pipeline.staging_changes import FULL_EXPORTS
from pipeline.staging_lookup import TABLE as NORMALISED_VALUES
from pipeline.staging_lookup import NormalisedValues
from pipeline.staging_read import trimmed
from pipeline.warehouse import table_exists, transaction

SCHEMAS = ("raw", "staging", "identity", "golden", "marts")
# The run's changed customers (pipeline/golden/changes.py builds it and reads the name from here: it imports this module).
CHANGED = "golden.changed_customers"
# Tables of ids, hashes, dates and counts only, or that the purge maintains itself.
UNTOUCHED = {"staging.staged_files", FULL_EXPORTS, NORMALISED_VALUES, "identity.erasure_registry", ERASURE_MATCHES,
             "identity.purged_records", "identity.id_registry",
             "identity.id_events", "identity.record_customer", returning.DEPARTED, "identity.clusters", "identity.linked_records",
             "golden.excluded_customers", "golden.purge_log", "marts.customer_xref", "marts.data_quality",
             CHANGED, "golden.customer_fingerprints", "golden.customer_fingerprints_next",
             "golden.marts_generation", "golden.changed_rows",
             # values many people hold, no one's own (a till's placeholder e-mail): never an erased person's point
             placeholders.TABLE, placeholders.MOVES}
# Columns that are keys, ids, codes or bookkeeping, never a person's value.
KEEP = {"customer_id", "source", "source_record_id", "unique_id", "unique_id_l", "unique_id_r", "source_l",
        "source_r", "person_source", "person_record_id", "record_1", "record_2", "decision_id", "decision",
        "attribute", "decided_by", "file", "event", "channel", "activity_type", "status", "category", "store_id",
        "consent_channel", "consent_action", "action", "state", "state_source", "state_source_record_id",
        "collection_point", "contact_point_kind", "kind", "phone_kind", "item", "command", "run_id", "change",
        "record_hash", "household_id", "cluster_key", "component", "identity_events", "attribution",
        "_file", "_line", "_drop", "_loaded_at", "applied", "currency",
        # A device id stays on the sessions of a device another customer shares (it is theirs too, and stitching
        # their anonymous sessions depends on it); a device only purged customers used is purged with them.
        "device_id"}
# Types that never carry a name, an e-mail, a phone or an address: numbers, flags, timestamps.
_KEPT_TYPES = ("TIMESTAMP", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
               "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")

# The erased customers' points (e-mails, phones) and record keys, taken from their records alone (not every record).
# An e-mail or phone that a record of another customer (not erased) also holds is theirs too (a household's
# landline, a shared family mailbox): registered, it would erase that customer on their next run, and their
# household after them. It is not registered, and a request that named it is marked `shared` in the registry; the
# erased person's records still match by their record keys. A landline (own or further: `tel_fixe`, `tel_bureau`) is
# a household's or an office's, never one person's (identity vetoes a link on it alone): held by no one else at the
# purge, registered it erased whoever arrived later holding it (a household member, a colleague on the switchboard
# number, the flat's next tenant), so it is treated as shared too.
ERASED_POINTS_SQL = """
CREATE OR REPLACE TEMP TABLE _erased_points AS
WITH erased AS (
    SELECT customer_id, source, source_record_id FROM marts.customer_xref
    WHERE customer_id IN (SELECT customer_id FROM golden.excluded_customers WHERE reason = 'erased')
),
points AS (
    SELECT e.customer_id, 'email' AS kind, p.email_key AS value, false AS landline
    FROM staging.person_records p JOIN erased e USING (source, source_record_id) WHERE p.email_key IS NOT NULL
    UNION ALL
    SELECT e.customer_id, 'phone', p.phone, coalesce(p.phone_kind = 'landline', false)
    FROM staging.person_records p JOIN erased e USING (source, source_record_id) WHERE p.phone IS NOT NULL
    UNION ALL  -- their records' further e-mails and phones (more_contacts)
    SELECT e.customer_id, c.kind, c.contact_key, coalesce(c.phone_kind = 'landline', false)
    FROM staging.person_contacts c JOIN erased e USING (source, source_record_id) WHERE c.contact_key IS NOT NULL
),
holding AS MATERIALIZED (  -- the records holding one of those points, each kind looked up on its own column:
    -- OR-ed, the lookups were applied after every record of the base had been joined to its customer (0.13 against
    -- 0.05 CPU s at 1M source records, every run)
    SELECT source, source_record_id, email_key, phone FROM staging.person_records
    WHERE email_key IN (SELECT value FROM points WHERE kind = 'email')
    UNION
    SELECT source, source_record_id, email_key, phone FROM staging.person_records
    WHERE phone IN (SELECT value FROM points WHERE kind = 'phone')
    UNION
    SELECT source, source_record_id, CASE WHEN kind = 'email' THEN contact_key END,
           CASE WHEN kind = 'phone' THEN contact_key END FROM staging.person_contacts
    WHERE (kind, contact_key) IN (SELECT (kind, value) FROM points)
),
others AS (  -- of them, the records of customers not erased
    SELECT h.email_key, h.phone
    FROM holding h JOIN marts.customer_xref x USING (source, source_record_id)
    WHERE x.customer_id NOT IN (SELECT customer_id FROM erased)
)
SELECT customer_id, kind, sha256(kind || ':' || value) AS identifier_hash,
       -- each kind against its own column, NULLs left out: an IN list holding a NULL reads NULL, not false, for a
       -- point nobody else holds (a record of another customer sharing the landline but without an e-mail), and a
       -- NULL `shared` neither registered the erased person's own e-mail nor marked it
       (kind = 'email' AND value IN (SELECT email_key FROM others WHERE email_key IS NOT NULL))
       OR (kind = 'phone' AND value IN (SELECT phone FROM others WHERE phone IS NOT NULL))
       OR bool_or(landline) OVER (PARTITION BY kind, value) AS shared
FROM points
UNION ALL
SELECT customer_id, 'record', sha256('record:' || source || ':' || source_record_id), false FROM erased
"""
# The erased customers' landlines with their names (privacy.LANDLINE_NAME_KEYS_SQL): what is theirs alone of a shared
# line. A key a record of another customer matches (a namesake on the family line, undated) is theirs too: `shared`.
_ERASED_RECORDS = """SELECT source, source_record_id FROM marts.customer_xref
    WHERE customer_id IN (SELECT customer_id FROM golden.excluded_customers WHERE reason = 'erased')"""
_ERASED_LANDLINES = f"""
    SELECT phone FROM staging.person_records WHERE phone_kind = 'landline' AND (source, source_record_id) IN
        ({_ERASED_RECORDS})
    UNION SELECT contact_key FROM staging.person_contacts WHERE kind = 'phone' AND phone_kind = 'landline'
        AND (source, source_record_id) IN ({_ERASED_RECORDS})"""
_NEIGHBOURS = f"""  -- records of customers not erased holding one of those landlines
    SELECT source, source_record_id FROM marts.customer_xref
    WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers WHERE reason = 'erased')
      AND (source, source_record_id) IN (
          SELECT source, source_record_id FROM staging.person_records WHERE phone IN ({_ERASED_LANDLINES})
          UNION SELECT source, source_record_id FROM staging.person_contacts
          WHERE kind = 'phone' AND contact_key IN ({_ERASED_LANDLINES}))"""
ERASED_LANDLINE_NAMES_SQL = f"""
INSERT INTO _erased_points
SELECT x.customer_id, r.kind, r.identifier_hash,
       EXISTS (SELECT 1 FROM ({LANDLINE_NAME_KEYS_SQL.format(records=_NEIGHBOURS)}) k
               WHERE k.identifier_hash = r.identifier_hash AND {LANDLINE_MATCH})
FROM (SELECT source, source_record_id, identifier_hash,
             CASE WHEN dated AND NOT exact THEN '{LANDLINE_UNDATED}' ELSE '{LANDLINE_NAME}' END AS kind
      FROM ({LANDLINE_NAME_KEYS_SQL.format(records=_ERASED_RECORDS)})) r
JOIN marts.customer_xref x USING (source, source_record_id)
"""
REGISTER_CUSTOMER_IDENTIFIERS_SQL = f"""
INSERT INTO identity.erasure_registry ({REGISTRY_COLUMNS})
SELECT DISTINCT ON (identifier_hash) identifier_hash, kind, 'erased_customer', customer_id, now(), ?
FROM _erased_points
WHERE NOT shared AND identifier_hash NOT IN (SELECT identifier_hash FROM identity.erasure_registry)
"""
MARK_SHARED_SQL = """
UPDATE identity.erasure_registry SET shared = true
WHERE NOT coalesce(shared, false) AND identifier_hash IN (SELECT identifier_hash FROM _erased_points WHERE shared)
"""

_TARGETS_SQL = """
CREATE OR REPLACE TEMP TABLE _purge_customers AS SELECT customer_id, reason FROM golden.excluded_customers;
CREATE OR REPLACE TEMP TABLE _purge_records AS
    SELECT x.source, x.source_record_id, x.source || ':' || x.source_record_id AS unique_id
    FROM marts.customer_xref x JOIN _purge_customers USING (customer_id);
CREATE OR REPLACE TEMP TABLE _purge_devices AS  -- devices only purged customers ever logged in on
    SELECT source, device_id FROM golden.stitched_sessions
    WHERE attribution = 'logged_in' AND device_id IS NOT NULL
    GROUP BY ALL HAVING bool_and(customer_id IN (SELECT customer_id FROM _purge_customers));
"""


def _columns(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, str]]:
    """(schema, table) -> {column: type} of every table of SCHEMAS, in one query (not one per table)."""
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, kind in con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND list_contains(?, table_schema) "
            "ORDER BY table_schema, table_name, ordinal_position", [list(SCHEMAS)]).fetchall():
        columns.setdefault((schema, table), {})[column] = kind
    return columns


def _scrubbed(columns: dict[str, str], keep: set[str]) -> list[str]:
    return [c for c, t in columns.items() if c not in keep and not t.upper().startswith(_KEPT_TYPES)]


# A key that names purged rows: the table's columns, the relation of purged values, its matching columns.
Key = tuple[tuple[str, ...], str, tuple[str, ...]]
EVERY_ROW: list[Key] = []  # staging.erasure_requests: the requests themselves are scrubbed whole


def _keys(columns: dict[str, str]) -> list[Key]:
    """The keys a table has that can name a purged customer or record."""
    keys: list[Key] = []
    if "customer_id" in columns:
        keys.append((("customer_id",), "_purge_customers", ("customer_id",)))
    for pair in (("source", "source_record_id"), ("person_source", "person_record_id")):
        if set(pair) <= columns.keys():
            keys.append((pair, "_purge_records", ("source", "source_record_id")))
    keys += [((c,), "_purge_records", ("unique_id",))
             for c in ("unique_id", "unique_id_l", "unique_id_r", "record_1", "record_2") if c in columns]
    return keys


def as_purged(con: duckdb.DuckDBPyConnection, select_sql: str, params: dict | None = None,
              spared: str | None = None) -> str:
    """`select_sql` (a golden table's rows, keyed by customer_id alone) with the excluded customers' rows
    (golden.excluded_customers) already as purge_excluded leaves them: the same rows, the values it scrubs NULL.
    Built so, a table gives the purge nothing to rewrite (a first delivery without activity excludes a third of its
    customers by retention, and rewriting their rows costs DuckDB a recompression of the table at commit). Only for
    a table whose excluded rows nothing reads before the purge; the customers of `spared` (a relation of customer_id)
    keep their values for a reader of the run (stewards' overrides), and the purge scrubs them as before."""
    if not table_exists(con, "golden.excluded_customers"):  # a table built alone, before anyone was excluded
        return select_sql
    columns = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {select_sql}", params or {}).fetchall()}
    if _keys(columns) != [(("customer_id",), "_purge_customers", ("customer_id",))] or "device_id" in columns:
        raise ValueError("as_purged: rows must be named by customer_id alone, as the purge names them")
    if not (scrubbed := _scrubbed(columns, KEEP)):
        return select_sql
    purged = "customer_id IN (SELECT customer_id FROM golden.excluded_customers)"
    if spared:
        purged += f" AND customer_id NOT IN ({spared})"
    nulls = ", ".join(f"CASE WHEN NOT _purged THEN {quote(c)} END AS {quote(c)}" for c in scrubbed)
    return f"SELECT * EXCLUDE (_purged) REPLACE ({nulls}) FROM (SELECT *, coalesce({purged}, false) AS _purged " \
           f"FROM ({select_sql}))"


# A purged raw row stays stageable (a full refresh restages raw): its activity columns stay, and its first
# identifying column keeps this token, which staging reads as "values purged" (not an empty person to quarantine).
TOKEN = PURGED_TOKEN


# The columns of a raw table the purge never scrubs: where the row came from, when it was loaded.
RAW_META = {"_file", "_line", "_drop", "_loaded_at"}


def _records_of(source_name: str, records: str = "_purge_records") -> str:
    return f"(SELECT source_record_id FROM {records} WHERE source = {literal(source_name)})"


def _token(source: Source) -> str | tuple[str, ...] | None:
    """The raw column that takes TOKEN: the first identifying one."""
    identifying = [source.person[f] for f in ("full_name", "first_name", "last_name", "email", "phone")
                   if f in source.person]
    return identifying[0] if identifying else None


def _kept(source: Source) -> set[str]:
    """The columns of a person or activity source's raw rows a purge keeps: the record id, the update date, the
    activity (a restage stages it again) and the tombstone flag (a restage reads the record deleted again)."""
    flag = [source.deleted.column] if source.deleted else []
    return {source.record_id, source.updated_at, *source.activity.values(), *(c.column for c in source.consent.values()),
            *flag}


def _raw_passes(source: Source) -> list[tuple[list[Key] | None, set[str], str | None]]:
    """(keys naming purged rows, None for every row; kept columns; column that takes TOKEN) of each pass over a
    raw table (all text)."""
    token = _token(source)
    if source.is_erasure:  # the requests themselves: identifiers to forget, kept as hashes in the registry
        return [(None, {source.record_id, source.updated_at}, token)]
    keys: list[Key] = [((source.record_id,), _records_of(source.name), ("source_record_id",))]
    keep = _kept(source)
    if source.person_ref:
        keys.append(((source.person_ref.column,), _records_of(source.person_ref.source), ("source_record_id",)))
        keep.add(source.person_ref.column)
    passes = [(keys, keep, token)]
    if device := source.activity.get("device_id"):
        devices = f"(SELECT device_id FROM _purge_devices WHERE source = {literal(source.name)})"
        passes.append(([((device,), devices, ("device_id",))], keep - {device}, token))
    return passes


def _scrubbed_values(columns: list[str], token: str | None) -> dict[str, str]:
    return {c: f"'{TOKEN}'" if c == token else "NULL" for c in columns}


def _unscrubbed(table: str, keys: list[Key] | None, columns: list[str], token: str | None) -> str:
    """The condition naming the rows of `table` that `keys` name (every row when None) and that still hold a value
    in `columns`."""
    holding = " OR ".join(f"{quote(c)} IS DISTINCT FROM {v}" for c, v in _scrubbed_values(columns, token).items())
    # A raw row names its record (card, device) as delivered, staging as trimmed: ' K1 ' is the card K1, whose
    # receipts and own rows kept their values when compared as written.
    def own_key(column: str) -> str:
        return trimmed(column, "t") if table.startswith("raw.") and column not in RAW_META else f"t.{quote(column)}"

    named_rows = "" if keys is None else "rowid IN (" + " UNION ALL ".join(
        f"SELECT t.rowid FROM {table} t SEMI JOIN {target} p ON "
        + " AND ".join(f"{own_key(a)} = p.{quote(b)}" for a, b in zip(own, theirs, strict=True))
        for own, target, theirs in keys) + ") AND "
    return f"{named_rows}({holding})"


def _scrub(con: duckdb.DuckDBPyConnection, table: str, keys: list[Key] | None, columns: list[str],
           token: str | None = None, forget: Callable[[str], object] | None = None) -> int:
    """Purge the rows `keys` name (every row when None) that still hold a value in `columns`. The rows are found by
    semi-joins on the table's own keys (one hash join each, not OR-ed IN subqueries per row), then replaced by
    their scrubbed copy: a DuckDB UPDATE of many columns over a third of a table costs ~20x an insert + delete.
    `forget` is handed a query of those rows as they are before (the lookup forgets their values)."""
    if keys == [] or not columns:
        return 0
    value = _scrubbed_values(columns, token)
    # a CREATE TABLE AS returns its row count: no second statement to count the hits (~40 passes a run)
    if not (hits := scalar(con, f"CREATE OR REPLACE TEMP TABLE _purge_hits AS SELECT rowid AS row FROM {table} "
                                f"WHERE {_unscrubbed(table, keys, columns, token)}")):
        return 0
    if forget:
        forget(f"SELECT * FROM {table} WHERE rowid IN (SELECT row FROM _purge_hits)")
    every = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    scrubbed = ", ".join(value.get(c, quote(c)) for c in every)
    # copied aside, deleted, then inserted back: a table with a primary key never holds both copies of a row
    con.execute(f"CREATE OR REPLACE TEMP TABLE _purge_rows AS SELECT {scrubbed} FROM {table} "
                "WHERE rowid IN (SELECT row FROM _purge_hits)")
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT row FROM _purge_hits)")
    con.execute(f"INSERT INTO {table} SELECT * FROM _purge_rows")
    return hits


_EMPTY = ("first_name", "first_name_canonical", "last_name", "birth_date", "email", "mobile", "landline", "street",
          "postcode", "city")


def _keep_record_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Remember the record hash each purged record was last linked with (the values are about to go)."""
    con.execute("""CREATE TABLE IF NOT EXISTS identity.purged_records (
        unique_id VARCHAR PRIMARY KEY, record_hash VARCHAR, first_purged_at TIMESTAMP, last_purged_at TIMESTAMP)""")
    holding = " OR ".join(f"i.{c} IS NOT NULL" for c in _EMPTY)
    con.execute(f"""INSERT INTO identity.purged_records
        SELECT i.unique_id, i.record_hash, now(), now() FROM identity.linkage_input i
        SEMI JOIN _purge_records p ON p.unique_id = i.unique_id WHERE {holding}
        ON CONFLICT (unique_id) DO UPDATE SET record_hash = excluded.record_hash, last_purged_at = excluded.last_purged_at""")


def restore_purged_hashes(con: duckdb.DuckDBPyConnection, table: str = "identity.linkage_input") -> int:
    """In a freshly built identity.linkage_input (or `table`, its rows before they are written), give each purged
    record (nothing left to compare) the hash it was last linked with: the next run sees it unchanged and reuses its
    pairs and cluster, so purging changes no customer id. A purged record delivered again with values keeps its new
    hash and is linked again."""
    if not table_exists(con, "identity.purged_records"):
        return 0
    empty = " AND ".join(f"i.{c} IS NULL" for c in _EMPTY)
    return scalar(con, f"""UPDATE {table} i SET record_hash = p.record_hash
        FROM identity.purged_records p WHERE p.unique_id = i.unique_id AND {empty}
          AND i.record_hash IS DISTINCT FROM p.record_hash""")


# The normalisation lookup is keyed by raw values, not records: every value a purged record was staged with leaves
# it (another person's same value is simply normalised again when next seen).
FORGET_NORMALISED_SQL = f"""
DELETE FROM {NORMALISED_VALUES} WHERE raw IN (
    SELECT unnest([first_name_raw, last_name_raw, email_raw, phone_raw, street_raw, city_raw])
    FROM staging.person_records SEMI JOIN _purge_records USING (source, source_record_id)
    UNION ALL  -- their further e-mails and phones (more_contacts)
    SELECT raw FROM staging.person_contacts SEMI JOIN _purge_records USING (source, source_record_id))"""


# A record whose newest version is a tombstone (the source's `deleted` key), or that a full delivery's newest export
# omits (`delivery: full`), is retired: it belongs to no customer, so the passes that find records through the
# customers' (erasure, retention) never reach it, and a person erased after a source deleted one of their records kept
# that record's values in raw, staging.quarantine and the lookup. A source deleted it: its values go at once, as data
# minimisation, whoever asks. Its raw rows keep the record id, the update date and the flag column (a full restage
# reads the tombstone again, or finds the record absent from the newest export again: the record stays retired, its
# older versions superseded); its quarantined rows keep the reasons they are counted by (deleted, superseded), any
# other reason goes with the values (counted as purged). A later live version is a new row, with its values: the
# record comes back.
RETIRED_SQL = f"""
CREATE OR REPLACE TEMP TABLE _retired_records AS
    SELECT DISTINCT q.source, q.source_record_id FROM ({RETIRED_RECORDS_SQL}) q
    ANTI JOIN staging.person_records p USING (source, source_record_id)
    WHERE list_contains($sources, q.source);
CREATE OR REPLACE TEMP TABLE _retired_rows AS
    SELECT q.source, q._file, q._line,
           coalesce(list_contains($retired, q.reason) OR starts_with(q.reason, $superseded), false) AS counted
    FROM staging.quarantine q SEMI JOIN _retired_records r USING (source, source_record_id)
"""


def _quarantined_activity_rows(con: duckdb.DuckDBPyConnection, sources: list[Source]) -> list[Key]:
    """The key naming the quarantined rows of activity sources that point at a purged record through `person_ref` (a
    corrected receipt's first version, a receipt without a ticket number): staging.quarantine names them by their own
    record id, not the card's, and their `raw_record` is the raw line, the card holder's name on it included."""
    refs = [s for s in sources if s.person_ref and table_exists(con, f"raw.{s.name}")]
    if not refs or not table_exists(con, "staging.quarantine"):
        return []
    located = ("source", "_file", "_line")
    con.execute("CREATE OR REPLACE TEMP TABLE _purge_quarantined AS " + " UNION ALL ".join(
        f"SELECT q.source, q._file, q._line FROM staging.quarantine q JOIN {raw_table(s.name)} t "
        f"ON q.source = {literal(s.name)} AND t._file = q._file AND t._line = q._line "
        f"WHERE {trimmed(s.person_ref.column, 't')} IN {_records_of(s.person_ref.source)}" for s in refs))
    return [(located, "_purge_quarantined", located)]


STRAYS_CHECKED = "identity.stray_checks"  # when _scrub_strays last looked, and at how many registered points


def _point_hashes(con: duckdb.DuckDBPyConnection, source: Source, rows: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(file, line, registry hash) of each e-mail and phone the raw `rows` hold, their own and their further ones
    (`more_contacts`), keyed as staging keys them, through the normalisation lookup (a value staged before is read
    back, not normalised again; nothing is saved to it). Read from the own columns alone, a row holding the erased
    work address only in `email_pro` (a CRM row without its id) kept it and the holder's name until 2026-11-29."""
    frame = prepare(source, rows)
    points = contact_keys(source, frame, NormalisedValues(con))
    return [(str(frame.at[row, "_file"]), int(frame.at[row, "_line"]),
             hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()) for row, kind, key in points.itertuples(index=False)]


def _scrub_strays(con: duckdb.DuckDBPyConnection, sources: list[Source], purged: dict[str, int]) -> None:
    """Scrub the quarantined person rows that belong to no purged record but hold an erased e-mail or phone: a record
    without its id (quarantined, no customer), an older version of an account that now holds another person's values.
    The passes through customers never reach them, and the request named their very e-mail or phone. Their raw rows,
    quarantined rows and looked-up values go as an erased record's do; the rows stay (counted as purged)."""
    if not (table_exists(con, "staging.quarantine") and table_exists(con, "identity.erasure_registry")
            and table_exists(con, "staging.staged_files")):
        return
    # The registry only grows: rows checked against it as it is need no second look. Every row is checked when it grew
    # since the last check, else the rows of the files staged since (the superseded versions pile up day after day).
    points = scalar(con, "SELECT count(*) FROM identity.erasure_registry WHERE kind <> 'record'")
    con.execute(f"CREATE TABLE IF NOT EXISTS {STRAYS_CHECKED} (checked_at TIMESTAMP, registry_points BIGINT)")
    last = con.execute(f"SELECT checked_at, registry_points FROM {STRAYS_CHECKED}").fetchone()
    since = last[0] if last and last[1] == points else None
    con.execute(f"CREATE OR REPLACE TABLE {STRAYS_CHECKED} AS SELECT now()::TIMESTAMP AS checked_at, "
                "?::BIGINT AS registry_points", [points])
    if not points:
        return
    located = ("_file", "_line")
    persons = [s.name for s in sources if s.has_person and not s.is_erasure]
    con.execute("""CREATE OR REPLACE TEMP TABLE _stray_candidates AS SELECT q.source, q._file, q._line
        FROM staging.quarantine q WHERE q.raw_record IS NOT NULL AND list_contains($persons, q.source)
          AND ($since IS NULL OR q._file IN (SELECT file FROM staging.staged_files WHERE staged_at > $since))
          AND NOT EXISTS (SELECT 1 FROM _purge_records p WHERE p.source = q.source
                          AND p.source_record_id = q.source_record_id)""", {"persons": persons, "since": since})
    holding = {r[0] for r in con.execute("SELECT DISTINCT source FROM _stray_candidates").fetchall()}
    for source in sources:
        if source.name not in holding or not table_exists(con, f"raw.{source.name}"):
            continue
        table = raw_table(source.name)
        rows = con.execute(f"""SELECT t.* FROM {table} t SEMI JOIN _stray_candidates q
            ON q.source = $source AND q._file = t._file AND q._line = t._line""", {"source": source.name}).df()
        if rows.empty or not (hashes := _point_hashes(con, source, rows)):
            continue
        con.execute("""CREATE OR REPLACE TEMP TABLE _purge_strays AS SELECT DISTINCT h._file, h._line
            FROM (SELECT unnest(?, recursive := true)) h SEMI JOIN identity.erasure_registry r
            ON r.identifier_hash = h.hash AND NOT coalesce(r.shared, false)""",
                    [[{"_file": f, "_line": line, "hash": h} for f, line, h in hashes]])
        if not scalar(con, "SELECT count(*) FROM _purge_strays"):
            continue
        keys: list[Key] = [(located, "_purge_strays", located)]
        scrubbed = [c for c in rows.columns if c not in _kept(source) | RAW_META]
        for name, n in ((f"raw.{source.name}", _scrub(con, table, keys, scrubbed, _token(source),
                                                       _forgetting(con, source, purged))),
                        ("staging.quarantine", _scrub(
                            con, "staging.quarantine",
                            [(("source", *located), f"(SELECT {literal(source.name)} AS source, * FROM _purge_strays)",
                              ("source", *located))], ["reason", "raw_record"]))):
            if n:
                purged[name] = purged.get(name, 0) + n


def _forgetting(con: duckdb.DuckDBPyConnection, source: Source, purged: dict[str, int]) -> Callable[[str], object]:
    """What _scrub calls with a query of the raw rows of `source` it is about to scrub: the normalisation lookup forgets
    their values, every version of the records (FORGET_NORMALISED_SQL reads the staged version alone, and an e-mail a
    record held before its source updated it stayed in the lookup); the rows deleted from it are added to `purged`."""
    def forget(rows_sql: str) -> None:
        if not source.has_person or not table_exists(con, NORMALISED_VALUES):
            return
        if forgotten := sorted(looked_up_values(source, con.execute(rows_sql).df())):
            purged[NORMALISED_VALUES] = purged.get(NORMALISED_VALUES, 0) + scalar(
                con, f"DELETE FROM {NORMALISED_VALUES} WHERE raw IN (SELECT unnest(?))", [forgotten])
    return forget


def _scrub_retired(con: duckdb.DuckDBPyConnection, sources: list[Source], purged: dict[str, int]) -> None:
    """Scrub the retired records' raw rows and quarantined rows, and make the lookup forget their values (RETIRED_SQL),
    adding the rows to `purged` (per table)."""
    deleting = [s for s in sources if s.deletes and s.has_person]
    if not deleting or not (table_exists(con, "staging.quarantine") and table_exists(con, "staging.person_records")):
        return
    params = {"retired": list(RETIRED_REASONS), "superseded": SUPERSEDED_REASON, "sources": [s.name for s in deleting]}
    for statement in RETIRED_SQL.strip().split(";\n"):
        con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    if not scalar(con, "SELECT count(*) FROM _retired_records"):
        return
    columns_of = _columns(con)
    hits: dict[str, int] = {}
    for source in deleting:
        if (columns := columns_of.get(("raw", source.name))) is None:
            continue
        table, token = raw_table(source.name), _token(source)
        scrubbed = [c for c in columns if c not in _kept(source) | RAW_META]
        keys: list[Key] = [((source.record_id,), _records_of(source.name, "_retired_records"), ("source_record_id",))]
        hits[f"raw.{source.name}"] = _scrub(con, table, keys, scrubbed, token, _forgetting(con, source, hits))
    quarantine, located = columns_of[("staging", "quarantine")], ("source", "_file", "_line")
    hits["staging.quarantine"] = sum(
        _scrub(con, "staging.quarantine", [(located, f"(SELECT * FROM _retired_rows WHERE {where})", located)],
               _scrubbed(quarantine, kept)) for where, kept in (("counted", KEEP | {"reason"}), ("NOT counted", KEEP)))
    for table, n in hits.items():
        if n:
            purged[table] = purged.get(table, 0) + n


# An excluded customer's history is blanked by its customer id, but their values can stand in the versions of other
# ids: an id merged into theirs on a later run (its versions before the merge), or the id their records were split
# from. Those ids are found through the identity events (merges and splits, followed from id to id), and in their
# versions every value a purged record won (each version's `changes` names the record behind each value it set) is
# blanked, as an old or new value too; their own values stay. The copies take those ids' rows again (changed).
_HISTORY = "marts.customer_history"
HISTORY_VALUES_SQL = f"""
CREATE OR REPLACE TEMP TABLE _history_values AS
WITH RECURSIVE events AS MATERIALIZED (
    SELECT e, unnest(ids) AS customer_id
    FROM (SELECT row_number() OVER () AS e, list_append(old_ids, new_id) AS ids FROM identity.id_events
          WHERE event IN ('merge', 'split'))
),
linked(customer_id) AS (
    SELECT customer_id FROM events SEMI JOIN _purge_customers USING (customer_id)
    UNION
    SELECT b.customer_id FROM linked l JOIN events a USING (customer_id) JOIN events b USING (e)
),
cited AS (
    SELECT customer_id, unnest(changes) AS c FROM {_HISTORY}
    WHERE customer_id IN (SELECT customer_id FROM linked) AND customer_id NOT IN (SELECT customer_id FROM _purge_customers)
)
SELECT customer_id, list(DISTINCT c.attribute || chr(31) || c.new_value) AS purged
FROM cited JOIN _purge_records r ON r.source = c.source AND r.source_record_id = c.source_record_id
WHERE c.new_value IS NOT NULL
GROUP BY customer_id
"""


def _scrub_history_values(con: duckdb.DuckDBPyConnection, columns: dict[str, str]) -> int:
    """Blank, in other ids' history versions, the values purged records won (HISTORY_VALUES_SQL); the ids are added
    to the run's changed customers so that the restricted copy takes their rows again."""
    con.execute(HISTORY_VALUES_SQL)
    if not scalar(con, "SELECT count(*) FROM _history_values"):
        return 0

    def kept(value: str, attribute: str) -> str:
        return f"CASE WHEN list_contains(p.purged, {attribute} || chr(31) || {value}) THEN NULL ELSE {value} END"

    attributes = [c for c, t in columns.items() if t == "VARCHAR" and c not in KEEP]
    values = ", ".join(f"{quote(a)} = {kept(f'h.{quote(a)}', literal(a))}" for a in attributes)
    changes = ("list_transform(h.changes, lambda c: struct_update(c, old_value := "
               f"{kept('c.old_value', 'c.attribute')}, new_value := {kept('c.new_value', 'c.attribute')}))")
    n = scalar(con, f"UPDATE {_HISTORY} h SET {values}, changes = {changes} FROM _history_values p "
                    "WHERE p.customer_id = h.customer_id")
    if table_exists(con, CHANGED):
        con.execute(f"INSERT INTO {CHANGED} (customer_id, why) SELECT customer_id, 'purged history' FROM _history_values "
                    f"WHERE customer_id NOT IN (SELECT customer_id FROM {CHANGED})")
    return n


# The counts purge_excluded returns beside the rows it scrubbed per table; the history of other ids it scrubbed.
IDENTIFIER_COUNTS = ("identifiers_registered", "identifiers_shared")
HISTORY_SCRUBBED = "marts.customer_history (merged or split ids)"


def purge_excluded(con: duckdb.DuckDBPyConnection, sources: list[Source], run_id: str) -> dict[str, int]:
    """Register erased customers' identifiers, then purge every excluded customer's values from every table, in
    one transaction. Returns rows purged per table (tables with none left out) and the identifiers registered."""
    by_name = {s.name: s for s in sources}
    purged: dict[str, int] = {}
    with transaction(con):
        con.execute(ERASED_POINTS_SQL)
        con.execute(ERASED_LANDLINE_NAMES_SQL)
        registered = scalar(con, REGISTER_CUSTOMER_IDENTIFIERS_SQL, [run_id])
        shared = scalar(con, MARK_SHARED_SQL)
        for statement in _TARGETS_SQL.strip().split(";\n"):
            con.execute(statement)
        if n := returning.forget(con, "_purge_records"):
            purged[returning.DEPARTED] = n
        if table_exists(con, "identity.linkage_input"):
            _keep_record_hashes(con)
        if (table_exists(con, NORMALISED_VALUES) and table_exists(con, "staging.person_records")
                and (n := scalar(con, FORGET_NORMALISED_SQL))):
                purged[NORMALISED_VALUES] = n
        _scrub_retired(con, sources, purged)
        _scrub_strays(con, sources, purged)
        columns_of = _columns(con)
        if table_exists(con, "identity.id_events") and (history := columns_of.get(("marts", "customer_history"))) \
                and (n := _scrub_history_values(con, history)):
            purged[HISTORY_SCRUBBED] = n
        tables = con.execute("""SELECT table_schema, table_name FROM information_schema.tables
            WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' AND list_contains(?, table_schema)
            ORDER BY 1, 2""", [list(SCHEMAS)]).fetchall()
        columns_of = _columns(con)
        for schema, name in tables:
            table = f"{schema}.{quote(name)}"
            if f"{schema}.{name}" in UNTOUCHED or name.endswith("__files"):
                continue
            columns = columns_of[(schema, name)]
            if schema == "raw":
                if name not in by_name:
                    continue
                passes = [(keys, [c for c in columns if c not in keep | RAW_META],
                           token) for keys, keep, token in _raw_passes(by_name[name])]
                forget = _forgetting(con, by_name[name], purged)  # the record's every version: its first pass
            else:
                keys = None if f"{schema}.{name}" == "staging.erasure_requests" else _keys(columns)
                if f"{schema}.{name}" == "staging.quarantine":
                    keys += _quarantined_activity_rows(con, sources)
                passes = [(keys, _scrubbed(columns, KEEP), None)]
                if {"source", "device_id"} <= columns.keys():  # devices nobody else used go with their owner
                    passes.append(([(("source", "device_id"), "_purge_devices", ("source", "device_id"))],
                                   _scrubbed(columns, KEEP - {"device_id"}), None))
            if n := sum(_scrub(con, table, keys, scrub, token, forget if i == 0 and schema == "raw" else None)
                        for i, (keys, scrub, token) in enumerate(passes)):
                purged[f"{schema}.{name}"] = n
        con.execute("""CREATE TABLE IF NOT EXISTS golden.purge_log (
            run_id VARCHAR, purged_at TIMESTAMP, customer_id VARCHAR, reason VARCHAR, records BIGINT)""")
        con.execute("""INSERT INTO golden.purge_log
            SELECT ?, now(), c.customer_id, c.reason, count(r.unique_id)
            FROM _purge_customers c
            LEFT JOIN marts.customer_xref x USING (customer_id)
            LEFT JOIN _purge_records r USING (source, source_record_id)
            WHERE c.customer_id NOT IN (SELECT customer_id FROM golden.purge_log WHERE reason = c.reason)
            GROUP BY ALL""", [run_id])
    return {IDENTIFIER_COUNTS[0]: registered, IDENTIFIER_COUNTS[1]: shared, **purged}
