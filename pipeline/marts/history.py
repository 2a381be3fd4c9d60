"""marts.customer_history: every version of every customer's golden attributes (SCD type 2).

Each run compares today's marts.customer_360 with the current version of each customer. A customer whose
tracked attributes changed (a move, a new e-mail, a married name, a new loyalty tier) gets a new version:
the previous one is closed (`valid_to`, `is_current` false) and the new one lists, per changed attribute,
its old and new value and the source and source record that won it. A customer seen for the first time gets
version 1 ('new'); one that left the marts gets a closing version saying why (erased, retention, retired
into another id). The identity events of the run (identity.id_events: new, merge, split, retire) are attached
to the versions they caused; a merge or split that changes no surviving value still adds a version
(change 'identity'), so the history never misses it. An unchanged re-run adds nothing. Erased customers keep their version dates
only: every value of theirs is blanked, so no personal data outlives an erasure.
"""

from __future__ import annotations

import duckdb

from pipeline.golden.changes import is_full, scope
from pipeline.sql import scalar
from pipeline.staging import RETIRED_RECORDS_SQL
from pipeline.warehouse import table_exists, transaction

# attribute -> lineage prefix in marts.customer_360 (None: computed by the pipeline, not won from a source)
TRACKED = {"first_name": "first_name", "last_name": "last_name", "birth_date": "birth_date", "email": "email",
           "mobile": "mobile", "landline": "landline", "street": "address", "postcode": "address",
           "city": "address", "state": "address", "country": "address", "loyalty_tier": None}
CHANGE = "STRUCT(attribute VARCHAR, old_value VARCHAR, new_value VARCHAR, source VARCHAR, source_record_id VARCHAR)"
EVENT = "STRUCT(event VARCHAR, old_ids VARCHAR[])"

CREATE_SQL = f"""
CREATE TABLE IF NOT EXISTS marts.customer_history (
    customer_id VARCHAR, version INTEGER, valid_from TIMESTAMP, valid_to TIMESTAMP, is_current BOOLEAN,
    run_id VARCHAR, change VARCHAR,
    {", ".join(f"{a} VARCHAR" for a in TRACKED)},
    changes {CHANGE}[], identity_events {EVENT}[]
)"""


def _snapshot_sql() -> str:
    values = ", ".join(f"CAST({a} AS VARCHAR) AS {a}" for a in TRACKED)
    lineage = ", ".join(f"{p}_source AS {a}__source, {p}_source_record_id AS {a}__record" if p
                        else f"'pipeline' AS {a}__source, NULL AS {a}__record" for a, p in TRACKED.items())
    return f"SELECT customer_id, {values}, {lineage} FROM marts.customer_360 WHERE in_scope(customer_id)"


def _changes_sql() -> str:
    structs = ", ".join(
        f"{{'attribute': '{a}', 'old_value': c.{a}, 'new_value': s.{a}, 'source': s.{a}__source, "
        f"'source_record_id': s.{a}__record}}" for a in TRACKED)
    return f"list_filter([{structs}], lambda x: x.old_value IS DISTINCT FROM x.new_value)"


def record_history(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Add today's versions in one transaction; returns counts of new, updated and closed customers. Only the run's
    changed customers are compared (golden/changes.py): nobody else's tracked attributes or presence can differ."""
    scope(con, is_full(con) or not table_exists(con, "marts.customer_history"))
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(CREATE_SQL)
    con.execute("ALTER TABLE marts.customer_history ADD COLUMN IF NOT EXISTS state VARCHAR")  # tracked since 2026-11-29
    attrs = ", ".join(TRACKED)
    blank = ", ".join(f"{a} = NULL" for a in TRACKED)
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _snapshot AS {_snapshot_sql()}")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _versions AS
            SELECT s.customer_id, coalesce(c.version, 0) + 1 AS version,
                   CASE WHEN c.customer_id IS NULL THEN 'new' ELSE 'update' END AS change,
                   {", ".join(f"s.{a}" for a in TRACKED)}, {_changes_sql()} AS changes
            FROM _snapshot s
            LEFT JOIN marts.customer_history c ON c.customer_id = s.customer_id AND c.is_current""")
        # The run's identity events, per customer they name (as the new id or among the old ones).
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _events AS
            SELECT customer_id, list({{'event': event, 'old_ids': old_ids}}::{EVENT} ORDER BY event) AS identity_events
            FROM (SELECT new_id AS customer_id, event, old_ids FROM identity.id_events
                  WHERE run_id = $run_id AND new_id IS NOT NULL
                  UNION
                  SELECT unnest(old_ids) AS customer_id, event, old_ids FROM identity.id_events WHERE run_id = $run_id)
            GROUP BY customer_id""", {"run_id": run_id})
        # A merge or split is a version even when the surviving values stay the same.
        con.execute("""DELETE FROM _versions WHERE len(changes) = 0 AND customer_id NOT IN (
            SELECT customer_id FROM _events WHERE list_has_any(list_transform(identity_events, lambda e: e.event), ['merge', 'split']))""")
        con.execute("UPDATE _versions SET change = 'identity' WHERE change = 'update' AND len(changes) = 0")
        # Customers gone from the marts: why (erased, retention, or their id retired into another one).
        con.execute("""CREATE OR REPLACE TEMP TABLE _left AS
            SELECT c.customer_id, c.version + 1 AS version,
                   coalesce(x.reason, CASE WHEN r.status = 'retired' THEN 'retired' ELSE 'left' END) AS change
            FROM marts.customer_history c
            LEFT JOIN golden.excluded_customers x USING (customer_id)
            LEFT JOIN identity.id_registry r USING (customer_id)
            WHERE c.is_current AND c.change NOT IN ('erased', 'retention', 'retired', 'left') AND in_scope(c.customer_id)
              AND c.customer_id NOT IN (SELECT customer_id FROM _snapshot)""")
        con.execute("""UPDATE marts.customer_history SET valid_to = now(), is_current = false
            WHERE is_current AND customer_id IN (SELECT customer_id FROM _versions UNION SELECT customer_id FROM _left)""")
        for versions, values in (("_versions", f"{', '.join(f'v.{a}' for a in TRACKED)}, v.changes,"),
                                 ("_left", "")):
            con.execute(f"""INSERT INTO marts.customer_history BY NAME
                SELECT v.customer_id, v.version, now() AS valid_from, NULL AS valid_to, true AS is_current,
                       $run_id AS run_id, v.change, {values} e.identity_events
                FROM {versions} v LEFT JOIN _events e USING (customer_id)""", {"run_id": run_id})
        # Erasure: keep the skeleton (ids, versions, dates), blank every value.
        con.execute(f"""UPDATE marts.customer_history SET {blank}, changes = NULL
            WHERE customer_id IN (SELECT customer_id FROM golden.excluded_customers WHERE reason = 'erased')
              AND (changes IS NOT NULL OR coalesce({attrs}) IS NOT NULL)""")
        # A customer who left because their records' sources deleted them (tombstones, omissions from a full export)
        # keeps no value either: those records are scrubbed as data minimisation (golden/purge.py), and a person asking
        # for erasure later matches no customer of theirs. Nor one whose records the warehouse holds no more, staged or
        # quarantined: an operator took their file back (`customer360 forget`, a wrong delivery), and its values stayed
        # in the history until 2026-11-29. Only the customers leaving in this run are read (their changes cite their
        # records).
        if table_exists(con, "staging.quarantine"):
            con.execute(f"""UPDATE marts.customer_history SET {blank}, changes = NULL
                WHERE customer_id IN (
                    SELECT h.customer_id
                    FROM (SELECT customer_id, c.source, c.source_record_id
                          FROM (SELECT customer_id, unnest(changes) AS c FROM marts.customer_history
                                WHERE customer_id IN (SELECT customer_id FROM _left))
                          WHERE c.source_record_id IS NOT NULL) h
                    WHERE (source, source_record_id) IN (SELECT (source, source_record_id) FROM ({RETIRED_RECORDS_SQL}))
                       OR (source, source_record_id) NOT IN (
                           SELECT (source, source_record_id) FROM staging.person_records
                           UNION ALL SELECT (source, source_record_id) FROM staging.quarantine
                           WHERE source_record_id IS NOT NULL))
                  AND (changes IS NOT NULL OR coalesce({attrs}) IS NOT NULL)""")
        counts = {
            "new_customers": scalar(con, "SELECT count(*) FROM _versions WHERE change = 'new'"),
            "updated_customers": scalar(con, "SELECT count(*) FROM _versions WHERE change = 'update'"),
            "customers_left": scalar(con, "SELECT count(*) FROM _left")}
    return counts
