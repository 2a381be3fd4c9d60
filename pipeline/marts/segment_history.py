"""Segment figures over runs, for analysts to chart: how big each segment and tier is, how many opted out, how many
can be reached on each channel. One row per run, RFM segment and loyalty tier; aggregates only (it is in the
analysts' copy). A run replaces its own rows only, so re-running a day does not double them."""

from __future__ import annotations

import duckdb

from pipeline.warehouse import transaction

SEGMENT_FIGURES_SQL = """
SELECT ?::VARCHAR AS run_id, ?::DATE AS reference_date, now()::TIMESTAMP AS measured_at,
       rfm_segment, loyalty_tier,
       count(*)                                                  AS customers,
       round(avg((consent_email = 'opt_out')::INT), 4)           AS email_opt_out_share,
       round(avg((consent_sms = 'opt_out')::INT), 4)             AS sms_opt_out_share,
       round(avg(contactable_email::INT), 4)                     AS contactable_email_share,
       round(avg(contactable_sms::INT), 4)                       AS contactable_sms_share,
       round(avg(contactable_phone::INT), 4)                     AS contactable_phone_share,
       round(avg(contactable_post::INT), 4)                      AS contactable_post_share
FROM marts.customer_360
GROUP BY ALL
"""


def record_segment_figures(con: duckdb.DuckDBPyConnection, run_id: str, reference_date: str) -> int:
    """Append this run's figures to marts.segment_history (replacing the run's earlier rows); rows written."""
    with transaction(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS marts.segment_history AS {SEGMENT_FIGURES_SQL} LIMIT 0",
                    [run_id, reference_date])
        con.execute("DELETE FROM marts.segment_history WHERE run_id = ?", [run_id])
        con.execute(f"INSERT INTO marts.segment_history BY NAME {SEGMENT_FIGURES_SQL}", [run_id, reference_date])
    return con.execute("SELECT count(*) FROM marts.segment_history WHERE run_id = ?", [run_id]).fetchone()[0]
