"""The review queue on an incremental day: only the rows of the records the day touched are computed again, and the
queue is the one building it whole gives.

A real two-day demo (real DuckDB, Splink, Dagster): day one builds the queue whole, its retention purge then scrubs
records the queue names; day two's scoring, clustering and customer ids journal the records they change
(review.py), and the queue step recomputes only their rows (the purge's scrubbed rows are as building them again
gives: nothing to recompute for them).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb

from assets.keys import REVIEW_QUEUE
from pipeline.currency import read_rates
from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from pipeline.identity import review
from pipeline.identity.resolve import merge_rescored
from tests.conftest import demo_settings, materialise, materialise_until, park_day

NEXT_DAY = (DEMO_DAY + timedelta(days=1)).isoformat()




def _queue(con) -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {review.QUEUE}").fetchall(), key=repr)


def _build(con, policy) -> dict:
    """The queue as the run builds it, in euros with no exchange rate (the demo's amounts are all in euros)."""
    return review.build_review_queue(con, policy.review_floor, policy.threshold, policy.review_cluster_size,
                                     read_rates(Path("absent.csv"), "EUR"), "EUR")


def _whole(path, policy) -> list[tuple]:
    """The queue built whole (no state: every row computed) on a copy of the warehouse."""
    with duckdb.connect(str(path)) as con:
        review.forget(con)
        assert _build(con, policy) == {}
        return _queue(con)


def test_a_day_recomputes_only_the_rows_it_touched_and_gets_the_whole_queue(tmp_path):
    settings = demo_settings(tmp_path, 600, seed=31)
    hold_back(settings.raw_dir, 0.03, DEMO_DAY)
    deliver = park_day(settings, NEXT_DAY)
    materialise(settings)
    policy = settings.linkage
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        purged = con.execute(f"""SELECT count(*) FROM {review.QUEUE} q JOIN identity.purged_records p
            ON p.unique_id IN (q.unique_id_l, q.unique_id_r)""").fetchall()[0][0]
        assert purged > 0  # day one's purge scrubbed rows of the queue after it was built
    # A day that changed nothing after the purge computes no row again (the purged rows' ends were computed again
    # every day), and its queue, scrubbed rows included, is the whole one.
    idle = tmp_path / "idle.duckdb"
    shutil.copy(settings.warehouse, idle)
    with duckdb.connect(str(idle)) as con:
        assert _build(con, policy) \
            == {"records_reviewed_again": 0}
        idle_queue = _queue(con)
    assert idle_queue == _whole(idle, policy)
    deliver()
    result = materialise_until(settings, REVIEW_QUEUE)  # the purge, after it, would scrub the rows that
    # building the queue whole gives unscrubbed
    metadata = {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata
                for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        records = con.execute("SELECT count(*) FROM identity.linkage_input").fetchall()[0][0]
        assert con.execute(f"SELECT count(*) FROM {review.JOURNAL}").fetchall()[0][0] == 0  # spent by the queue
        day_two = _queue(con)
    again = metadata["review_queue"]["records_reviewed_again"].value
    assert 0 < again < records / 2  # scoped: the day's records, not every one
    copy = tmp_path / "whole.duckdb"
    shutil.copy(settings.warehouse, copy)
    assert day_two == _whole(copy, policy)

    # Days touching one record alone, through the pipeline's own writes: its pairs scored again (a new probability for
    # one of its uncertain pairs), then a new purchase (its activity totals). Only its pair rows and its customers'
    # rows are computed again; every other row of the queue is kept as it was; the queue is the whole one.
    with duckdb.connect(str(settings.warehouse)) as con:
        record, other = con.execute(f"""SELECT unique_id_l, unique_id_r FROM {review.QUEUE}
            WHERE item = 'uncertain_pair' ORDER BY 1, 2 LIMIT 1""").fetchall()[0]
        scored = con.sql("""SELECT * REPLACE (CASE WHEN unique_id_r = $other OR unique_id_l = $other
                THEN (match_probability + $floor) / 2 ELSE match_probability END AS match_probability)
            FROM identity.pairwise_predictions WHERE $record IN (unique_id_l, unique_id_r)""",
                         params={"record": record, "other": other, "floor": policy.review_floor}).to_arrow_table()
        partners = {u for pair in zip(scored["unique_id_l"].to_pylist(), scored["unique_id_r"].to_pylist(),
                                      strict=True) for u in pair}
        merge_rescored(con, scored, [record], [record])
        _one_day(con, policy, record, partners, tmp_path)
        source, record_id = record.split(":", 1)
        con.execute("""INSERT INTO staging.activities (source, source_record_id, activity_type, person_source,
            person_record_id, amount) VALUES ('test', 'new-purchase', 'purchase', ?, ?, 1234.5)""", [source, record_id])
        _one_day(con, policy, record, {record}, tmp_path)


def _one_day(con, policy, record: str, touched: set[str], tmp_path) -> None:
    """Build the queue on `con` after a day that touched `record` (and journalled `touched`): the rows naming neither
    `record` nor its customers are the queue's rows before, and the queue is the one building it whole gives."""
    customers = {r[0] for r in con.execute("SELECT customer_id FROM identity.record_customer WHERE unique_id = ?",
                                           [record]).fetchall()}
    before = _queue(con)
    assert _build(con, policy) \
        == {"records_reviewed_again": len(touched)}
    after = _queue(con)
    assert set(after) != set(before)

    def named(row) -> bool:
        return bool({row[2], row[3]} & touched) or row[1] in customers

    assert [r for r in after if not named(r)] == [r for r in before if not named(r)]
    copy = tmp_path / "day.duckdb"
    con.execute("CHECKPOINT")
    shutil.copy(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
                .fetchall()[0][0], copy)
    assert after == _whole(copy, policy)


def test_activity_totals_do_not_depend_on_the_order_amounts_are_added_in(tmp_path):
    """Two records with the same amounts, stored in two orders, have the same spend: a sum of doubles in storage order
    gave 0.6000000000000001 and 0.6, and a day whose threads added them otherwise took every such record for a change."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA staging")
        con.execute("""CREATE TABLE staging.activities AS SELECT 'crm' AS person_source, r AS person_record_id,
            a AS amount, 'order' AS activity_type, NULL::VARCHAR AS status, NULL::VARCHAR AS currency,
            NULL::TIMESTAMP AS occurred_at FROM (VALUES ('a', 0.1), ('a', 0.2), ('a', 0.3), ('b', 0.3), ('b', 0.2),
            ('b', 0.1)) v(r, a)""")
        spends = con.execute(f"SELECT unique_id, spend FROM ({review.values_sql(False)}) ORDER BY 1",
                             {"currency": "EUR"}).fetchall()
    assert spends == [("crm:a", 0.6), ("crm:b", 0.6)]
