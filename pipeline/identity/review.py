"""The stewards' review queue: uncertain pairs and doubtful clusters, most valuable first.

- `uncertain_pair`: scored between the review floor and the clustering threshold (the model hesitates);
- `vetoed_pair`: scored above the threshold but kept apart by contrary evidence (the model and the rules
  disagree);
- `outweighed_pair`: scored above the threshold but dropped because an exclusive alternative outweighs it
  (identity.outweighed_pairs, clustering.outweighed_by_rivals: a family contact matching two people who can
  never be one);
- `large_cluster` / `loose_cluster`: a customer of many records, or one whose records are mostly linked
  through others rather than to each other (a possible chain).
Pairs a steward already decided are left out. `same_customer` says whether the two records of a pair are
already in one customer (a vetoed pair is not, unless other records link them); filter on `item`. Value = activities and spend attached to the records, so the
customers that matter most come first. Facts are masked to what a comparison needs (initials, e-mail
domain, birth year, postcode); `command` writes the waterfall chart that explains the pair or customer.

The queue is rebuilt only where the day changed it. A pair row reads the pair, the stewards' decisions on it, the
outweighed pairs, its ends' activity totals and customers; a customer's row reads its clusters' records, their pairs,
totals and customer. So the steps that change those note the records concerned in the journal
identity.review_journal (with a customer id they held, when it changed): scoring (the records rescored and their
partners), clustering (a pair's outweighed verdict changed; a record's cluster row changed or went), customer_ids (a
record's customer changed); and the queue's own step adds the ends of steward decisions made or withdrawn, and the
records whose activity totals differ from the stored ones (identity.review_values). The purge needs no entry: it
scrubs a pair's values and its queue row together, and a pair with no value left is built as the purge leaves it
(no evidence, no facts), so a scrubbed row is the row building it again gives (it was computed again every day). Only the pair rows with an end among them and the rows of their customers (now and before)
are computed again; every other row is kept. identity.review_state says what the queue was built with; without it (a
first run, a full re-link, clusters or ids written whole) or with other thresholds, the queue is built whole.
"""

from __future__ import annotations

import hashlib

import duckdb
import pandas as pd

from pipeline.currency import REVENUE, converted_sql, foreign_amounts
from pipeline.sql import exact_sum, named, query, scalar
from pipeline.warehouse import registered, table_exists, transaction

_REVIEW_QUEUE_SQL = query("review_queue")  # pipeline/queries/review_queue.sql
QUEUE = "identity.review_queue"
JOURNAL = "identity.review_journal"
STATE = "identity.review_state"
VALUES = "identity.review_values"

RATES = "_review_rates"  # the operator's exchange rates, registered for the queue (golden writes its own table later)


def values_sql(foreign: bool) -> str:
    """Each record's activity totals: what ranks the queue, kept between runs so a day finds the records whose totals
    moved. The spend is its revenue in the house currency (`$currency`), as golden counts it (pipeline/currency.py):
    until 2026-11-29 every amount was added as delivered, loyalty points and yen beside euros. Summed exactly (as
    decimals): a sum of doubles depends on the order DuckDB's threads add them in, and its last bits moved for ~3 %
    of the records every day, each then taken for a change and its queue rows computed again."""
    return f"""SELECT person_source || ':' || person_record_id AS unique_id, count(*) AS activities,
       coalesce({exact_sum('amount_converted', REVENUE)}, 0) AS spend
    FROM ({converted_sql("staging.activities", foreign, RATES)})
    WHERE person_source IS NOT NULL AND person_record_id IS NOT NULL GROUP BY ALL"""


DECIDED_SQL = """SELECT DISTINCT least(record_1, record_2) AS a, greatest(record_1, record_2) AS b
    FROM identity.steward_decisions WHERE decision IN ('must_link', 'cannot_link')"""
QUEUE_ORDER = "spend DESC, activities DESC, item, unique_id_l, customer_id"


def review_queue_sql() -> str:
    """The queue's SELECT over the temp views _review_pairs and _review_clusters (build_review_queue makes them); its
    thresholds are bound parameters: $review_floor, $threshold, $review_size."""
    return _REVIEW_QUEUE_SQL


def _create_journal(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {JOURNAL} (unique_id VARCHAR, customer_id VARCHAR)")


def note(con: duckdb.DuckDBPyConnection, select_sql: str, params: list | None = None) -> None:
    """Add the rows of `select_sql` (unique_id, customer_id: an id the record held before, or NULL) to the journal,
    in the caller's transaction: their queue rows are computed again next time."""
    _create_journal(con)
    con.execute(f"INSERT INTO {JOURNAL} {select_sql}", params)


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """A table the queue reads was written whole: the next queue is built whole."""
    con.execute(f"DROP TABLE IF EXISTS {STATE}")


def _settings(review_floor: float, threshold: float, review_size: int) -> str:
    """What the queue's rows are built with: its thresholds and its query (another query's rows are built whole)."""
    return f"{review_floor!r}|{threshold!r}|{review_size}|{hashlib.sha256(_REVIEW_QUEUE_SQL.encode()).hexdigest()[:16]}"


def _scoped(con: duckdb.DuckDBPyConnection, settings: str) -> bool:
    """Temp tables _review_touched (unique_id) and _review_customers (customer_id): the records whose queue rows may
    differ from the stored queue's, and the customers whose rows may; False (no tables) when it must be built whole."""
    if not all(table_exists(con, t) for t in (STATE, JOURNAL, VALUES, QUEUE, "identity.record_customer")):
        return False
    if scalar(con, f"SELECT settings FROM {STATE}") != settings:
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _review_touched AS
        WITH decided AS ({DECIDED_SQL}), before AS (SELECT unnest(decided, recursive := true) FROM {STATE}),
        moved AS ((SELECT * FROM decided EXCEPT SELECT * FROM before) UNION ALL (SELECT * FROM before EXCEPT SELECT * FROM decided))
        SELECT unique_id FROM {JOURNAL}
        UNION SELECT unnest([a, b]) FROM moved
        UNION SELECT unique_id FROM _review_values_now n FULL JOIN {VALUES} o USING (unique_id)
              WHERE n.activities IS DISTINCT FROM o.activities OR n.spend IS DISTINCT FROM o.spend""")
    con.execute("DELETE FROM _review_touched WHERE unique_id IS NULL")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _review_customers AS
        SELECT customer_id FROM identity.record_customer SEMI JOIN _review_touched USING (unique_id)
        UNION SELECT customer_id FROM {JOURNAL} WHERE customer_id IS NOT NULL""")
    return True


def build_review_queue(con: duckdb.DuckDBPyConnection, review_floor: float, threshold: float,
                       review_size: int, rates: pd.DataFrame, currency: str) -> dict:
    """identity.review_queue, in one transaction with the activity totals, the state and the emptied journal: only
    the rows of the journalled records and their customers computed again when the last queue was built with these
    thresholds (the module's docstring), else whole. `rates` (read_rates) convert the spend into `currency`, the
    house's. Returns its counts."""
    settings = _settings(review_floor, threshold, review_size)
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    with registered(con, **{RATES: rates}):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _review_values_now AS {values_sql(foreign_amounts(con, currency))}",
                    {"currency": currency})
    scoped = _scoped(con, settings)
    if scoped:
        con.execute("""CREATE OR REPLACE TEMP TABLE _review_pairs AS SELECT * FROM identity.pairwise_predictions
            WHERE unique_id_l IN (SELECT unique_id FROM _review_touched)
               OR unique_id_r IN (SELECT unique_id FROM _review_touched)""")
        # whole clusters (a cluster's links count its pairs), of every record the customers in scope hold
        con.execute("""CREATE OR REPLACE TEMP TABLE _review_clusters AS SELECT * FROM identity.clusters
            WHERE cluster_key IN (SELECT c.cluster_key FROM identity.clusters c JOIN identity.record_customer r
                                  USING (unique_id) SEMI JOIN _review_customers USING (customer_id))""")
        kept = f"""SELECT * FROM {QUEUE} WHERE CASE WHEN customer_id IS NULL
            THEN unique_id_l NOT IN (SELECT unique_id FROM _review_touched)
                 AND unique_id_r NOT IN (SELECT unique_id FROM _review_touched)
            ELSE customer_id NOT IN (SELECT customer_id FROM _review_customers) END"""
        fresh = f"""SELECT * FROM ({_REVIEW_QUEUE_SQL})
            WHERE customer_id IS NULL OR customer_id IN (SELECT customer_id FROM _review_customers)"""
        select = f"SELECT * FROM ({kept} UNION ALL {fresh}) ORDER BY {QUEUE_ORDER}"
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW _review_pairs AS SELECT * FROM identity.pairwise_predictions")
        con.execute("CREATE OR REPLACE TEMP VIEW _review_clusters AS SELECT * FROM identity.clusters")
        select = _REVIEW_QUEUE_SQL
    params = named(_REVIEW_QUEUE_SQL, review_floor=review_floor, threshold=threshold, review_size=review_size)
    with transaction(con):
        if scoped:
            con.execute(f"""DELETE FROM {VALUES} WHERE unique_id IN (SELECT unique_id FROM _review_touched)""")
            con.execute(f"""INSERT INTO {VALUES} SELECT * FROM _review_values_now
                SEMI JOIN _review_touched USING (unique_id)""")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {VALUES} AS SELECT * FROM _review_values_now")
        con.execute(f"CREATE OR REPLACE TABLE {QUEUE} AS {select}", params)
        con.execute(f"""CREATE OR REPLACE TABLE {STATE} AS SELECT ?::VARCHAR AS settings, now()::TIMESTAMP AS built_at,
            (SELECT coalesce(list({{'a': a, 'b': b}}), []) FROM ({DECIDED_SQL})) AS decided""", [settings])
        _create_journal(con)
        con.execute(f"DELETE FROM {JOURNAL}")
    return {"records_reviewed_again": scalar(con, "SELECT count(*) FROM _review_touched")} if scoped else {}
