"""Full or incremental linkage: which records changed since the pairs were last scored.

`identity.linked_records` keeps (unique_id, record_hash) of the records the current pairwise predictions
were scored on. A run relinks only the records that are new or whose compared values changed (their old
pairs are dropped, new ones scored with the saved model); records gone take their pairs with them. A full
re-link (train + predict everything) happens on demand, on a first run, or when too much has changed
for the saved model to stand in for a retrained one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.sql import scalar
from pipeline.warehouse import table_exists


@dataclass
class LinkPlan:
    mode: str  # full | incremental | unchanged
    reason: str
    changed: list[str] = field(default_factory=list)  # new or changed records, to score
    removed: list[str] = field(default_factory=list)  # records gone since the last scoring


def plan_link(con: duckdb.DuckDBPyConnection, model_path: Path, full_relink: bool, max_share: float) -> LinkPlan:
    if full_relink:
        return LinkPlan("full", "full re-link requested")
    if not (model_path.exists() and table_exists(con, "identity.linked_records")
            and table_exists(con, "identity.pairwise_predictions")):
        return LinkPlan("full", "first run: no saved model or scored pairs")
    changed = [r[0] for r in con.execute("""
        SELECT unique_id FROM identity.linkage_input
        WHERE (unique_id, record_hash) NOT IN (SELECT (unique_id, record_hash) FROM identity.linked_records)
        ORDER BY unique_id""").fetchall()]
    removed = [r[0] for r in con.execute("""
        SELECT unique_id FROM identity.linked_records
        WHERE unique_id NOT IN (SELECT unique_id FROM identity.linkage_input) ORDER BY unique_id""").fetchall()]
    total = scalar(con, "SELECT count(*) FROM identity.linkage_input")
    share = (len(changed) + len(removed)) / max(total, 1)
    if share > max_share:
        return LinkPlan("full", f"{share:.1%} of records changed (> {max_share:.0%}): retrain", changed, removed)
    if not changed and not removed:
        return LinkPlan("unchanged", "no record changed: scored pairs kept")
    return LinkPlan("incremental", f"{len(changed)} new or changed, {len(removed)} removed ({share:.2%})",
                    changed, removed)


def save_linked_records(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TABLE identity.linked_records AS "
                "SELECT unique_id, record_hash FROM identity.linkage_input")


def update_linked_records(con: duckdb.DuckDBPyConnection, touched: str, changed: str) -> None:
    """save_linked_records after an incremental run, for its records only: the touched ones (changed or removed,
    the view `touched` names) leave, the changed ones (`changed`) come back with the hash they were scored on."""
    con.execute(f"DELETE FROM identity.linked_records WHERE unique_id IN (SELECT unique_id FROM {touched})")
    con.execute(f"""INSERT INTO identity.linked_records SELECT unique_id, record_hash FROM identity.linkage_input
        WHERE unique_id IN (SELECT unique_id FROM {changed})""")
