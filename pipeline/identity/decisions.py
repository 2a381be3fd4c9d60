"""Steward decisions: read from CSV or YAML files in the decisions folder, checked, applied on every run.

A decision is one of
- must_link   record_1, record_2 ('<source>:<record id>'): the same person, whatever the model says;
- cannot_link record_1, record_2: two different people, never in one customer;
- override    customer_id, attribute, value: this customer's attribute takes this value.
Each carries decision_id, reason, decided_by and decided_at, copied as given into identity.steward_decisions
with whether it was applied this run and, when not, why (a record that no longer exists, a customer id
that is not active any more, a must-link contradicting a cannot-link, an unknown attribute).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from pipeline.sql import scalar

KINDS = ("must_link", "cannot_link", "override")
COLUMNS = ["decision_id", "decision", "record_1", "record_2", "customer_id", "attribute", "value", "reason",
           "decided_by", "decided_at", "file"]
# Golden attributes a steward may override, and the lineage column that then says "steward".
OVERRIDABLE = {"first_name": "first_name", "last_name": "last_name", "birth_date": "birth_date", "email": "email",
               "mobile": "mobile", "landline": "landline", "street": "address", "postcode": "address",
               "city": "address", "state": "address", "country": "address"}


class DecisionsFileError(ValueError):
    """A decisions file that cannot be read at all; the message names the file."""


def _rows(path: Path) -> list[dict]:
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DecisionsFileError(f"decisions file {path}: {exc}") from exc
    rows = doc.get("decisions") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise DecisionsFileError(f"decisions file {path}: needs a 'decisions' list")
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows if isinstance(r, dict)]


def read_decisions(folder: Path) -> pd.DataFrame:
    """Every decision of every *.csv, *.yaml and *.yml file of the folder, with a first status."""
    records = []
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if path.suffix not in (".csv", ".yaml", ".yml"):
            continue
        for n, row in enumerate(_rows(path), 1):
            record = {c: (str(row.get(c) or "").strip() or None) for c in COLUMNS}
            record["file"] = path.name
            record["decision_id"] = record["decision_id"] or f"{path.name}#{n}"
            records.append(record)
    frame = pd.DataFrame(records, columns=COLUMNS, dtype=object)
    frame["status"] = pd.Series([_problem(r) for r in records], index=frame.index, dtype=object)
    return frame


def _problem(row: dict) -> str | None:
    """Why a decision is malformed (None when it is well-formed)."""
    if row["decision"] not in KINDS:
        return f"unknown decision {row['decision']!r} (allowed: {', '.join(KINDS)})"
    if row["decision"] in ("must_link", "cannot_link"):
        if not row["record_1"] or not row["record_2"] or row["record_1"] == row["record_2"]:
            return "needs two different records record_1 and record_2 ('<source>:<record id>')"
    elif not row["customer_id"] or not row["attribute"]:
        return "an override needs customer_id, attribute and value"
    elif row["attribute"] not in OVERRIDABLE:
        return f"attribute {row['attribute']!r} cannot be overridden (allowed: {', '.join(OVERRIDABLE)})"
    return None


def mark_missing_records(decisions: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """A link decision naming a record that no longer exists is reported, not silently dropped."""
    for i, row in decisions.iterrows():
        if pd.isna(row["status"]) and row["decision"] in ("must_link", "cannot_link"):
            gone = [r for r in (row["record_1"], row["record_2"]) if r not in known]
            if gone:
                decisions.at[i, "status"] = f"record(s) {', '.join(gone)} no longer exist"
    return decisions


# The decision log: append-only, so a deleted or edited decision leaves its trace. Each run adds one row per
# decision first seen ('added'), edited ('changed') or gone from the files ('removed'), and one row per decision
# in the files with its outcome ('applied' or 'not_applied', with status and effect: customers merged, split,
# value changed). `identity.decision_audit` sums it up per decision ever seen.
_CONTENT = ["decision", "record_1", "record_2", "customer_id", "attribute", "value", "reason", "decided_by",
            "decided_at", "file"]
CREATE_LOG_SQL = f"""
CREATE TABLE IF NOT EXISTS identity.decision_log (
    run_id VARCHAR, logged_at TIMESTAMP, decision_id VARCHAR, event VARCHAR,
    {", ".join(f"{c} VARCHAR" for c in _CONTENT)}, content_hash VARCHAR, status VARCHAR, effect VARCHAR)"""
_HASH = f"md5(to_json([{', '.join(_CONTENT)}]))"

LOG_DECISIONS_SQL = f"""
INSERT INTO identity.decision_log
WITH latest AS (  -- each decision's last file event: its content as last seen, or its removal
    SELECT * FROM identity.decision_log WHERE event IN ('added', 'changed', 'removed')
    QUALIFY row_number() OVER (PARTITION BY decision_id ORDER BY logged_at DESC, event = 'removed') = 1
),
current AS (SELECT *, {_HASH} AS content_hash FROM identity.steward_decisions)
SELECT $run_id, now(), c.decision_id,
       CASE WHEN l.decision_id IS NULL OR l.event = 'removed' THEN 'added' ELSE 'changed' END,
       {", ".join(f"c.{c}" for c in _CONTENT)}, c.content_hash, NULL, NULL
FROM current c LEFT JOIN latest l USING (decision_id)
WHERE l.decision_id IS NULL OR l.event = 'removed' OR l.content_hash <> c.content_hash
UNION ALL
SELECT $run_id, now(), l.decision_id, 'removed', {", ".join(f"l.{c}" for c in _CONTENT)}, l.content_hash, NULL, NULL
FROM latest l WHERE l.event <> 'removed' AND l.decision_id NOT IN (SELECT decision_id FROM current)
UNION ALL
SELECT $run_id, now() + INTERVAL 1 MICROSECOND, decision_id, CASE WHEN applied THEN 'applied' ELSE 'not_applied' END,
       {", ".join(_CONTENT)}, content_hash, status, effect
FROM current
"""

DECISION_AUDIT_SQL = """
SELECT decision_id,
       arg_max(decision, logged_at) FILTER (WHERE event IN ('added', 'changed'))    AS decision,
       arg_max(event, logged_at) FILTER (WHERE event IN ('added', 'changed', 'removed')) <> 'removed' AS active,
       min(logged_at)                                                                AS first_seen_at,
       max(logged_at) FILTER (WHERE event = 'changed')                               AS last_changed_at,
       max(logged_at) FILTER (WHERE event = 'removed')                               AS removed_at,
       min(logged_at) FILTER (WHERE event = 'applied')                               AS first_applied_at,
       max(logged_at) FILTER (WHERE event = 'applied')                               AS last_applied_at,
       count(DISTINCT run_id) FILTER (WHERE event = 'applied')                       AS runs_applied,
       arg_max(status, logged_at) FILTER (WHERE event IN ('applied', 'not_applied')) AS last_status,
       list(DISTINCT effect) FILTER (WHERE effect IS NOT NULL)                       AS effects
FROM identity.decision_log
GROUP BY decision_id
ORDER BY decision_id
"""


def log_decisions(con, run_id: str) -> dict[str, int]:
    """Append this run's decision events to identity.decision_log; rebuild identity.decision_audit."""
    con.execute(CREATE_LOG_SQL)
    before = scalar(con, "SELECT count(*) FROM identity.decision_log")
    con.execute(LOG_DECISIONS_SQL, {"run_id": run_id})
    con.execute(f"CREATE OR REPLACE TABLE identity.decision_audit AS {DECISION_AUDIT_SQL}")
    events = dict(con.execute("SELECT event, count(*) FROM identity.decision_log WHERE run_id = ? GROUP BY 1",
                              [run_id]).fetchall())
    return {"log_rows_added": scalar(con, "SELECT count(*) FROM identity.decision_log") - before,
            **{f"decisions_{e}": n for e, n in sorted(events.items())}}
