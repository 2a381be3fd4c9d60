"""A person's data, every piece the pipeline holds on them, in one JSON file: the officer's answer to a subject
access request (GDPR art. 15) and a portable copy (art. 20).

From the restricted copy: the golden record, every contact point with its consent, the consent history, the whole
timeline, every version of the attributes and the source records; beside it, the audiences the customer was sent in.
From the warehouse (read-only, when given): each source record as staged, as delivered beside its normalised
values, its further contact points and the values staging left out (field issues), and the quarantined rows of those
records or holding one of the customer's e-mails as delivered. Sections are read by DuckDB as JSON, whatever their
types (dates ISO 8601, lists as arrays). The file is written owner-only and atomically; nothing of it is printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.audience_log import SENT_SQL, log_path
from pipeline.marts.lookup import present_sections
from pipeline.private_files import replaced_whole

RESTRICTED_SECTIONS = {
    "customer": "SELECT * FROM marts.customer_360 WHERE customer_id = $id",
    "contact_points": "SELECT * FROM marts.contact_points WHERE customer_id = $id ORDER BY kind, contact_point",
    "consent_history": "SELECT * FROM marts.consent_history WHERE customer_id = $id ORDER BY occurred_at, channel",
    "timeline": "SELECT * FROM marts.customer_timeline WHERE customer_id = $id ORDER BY occurred_at, source_record_id",
    "history": "SELECT * FROM marts.customer_history WHERE customer_id = $id ORDER BY version",
    "source_records": "SELECT * FROM marts.customer_xref WHERE customer_id = $id ORDER BY ALL",
}
# Over the temp table _subject_records (source, source_record_id) and _subject_emails (email: lower-cased spellings).
WAREHOUSE_SECTIONS = {
    "staged_records": "SELECT p.* FROM staging.person_records p SEMI JOIN _subject_records USING (source, "
                      "source_record_id) ORDER BY source, source_record_id",
    "further_contacts": "SELECT c.* FROM staging.person_contacts c SEMI JOIN _subject_records USING (source, "
                        "source_record_id) ORDER BY ALL",
    "field_issues": "SELECT f.* FROM staging.field_issues f SEMI JOIN _subject_records USING (source, "
                    "source_record_id) ORDER BY ALL",
    "quarantined_rows": """SELECT q.* FROM staging.quarantine q
        WHERE (q.source, q.source_record_id) IN (SELECT (source, source_record_id) FROM _subject_records)
           OR EXISTS (SELECT 1 FROM _subject_emails e WHERE contains(lower(q.raw_record), e.email))
        ORDER BY q.source, q._file, q._line""",
}
NOT_INCLUDED = ("quarantined rows holding only the person's name or phone as delivered (they are not linked to a "
                "customer; search staging.quarantine for them)", "the erasure registry and audience log hold hashes, "
                "no values")


def _section(con: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None) -> list[dict]:
    text = con.execute(f"SELECT coalesce(json_group_array(to_json(t)), '[]') FROM ({sql}) t", params).fetchall()[0][0]
    return json.loads(text)


def export(restricted: Path, customer_id: str, out: Path, warehouse: Path | None) -> dict[str, int]:
    """Write the customer's data to `out` (JSON, owner-only); rows per section."""
    with duckdb.connect(str(restricted), read_only=True) as con:
        held = {name: _section(con, sql, {"id": customer_id}) for name, sql in present_sections(con, RESTRICTED_SECTIONS).items()}
        if log_path(restricted).exists():
            held["audiences_sent"] = _section(con, SENT_SQL, [str(log_path(restricted)), customer_id, customer_id])
    if warehouse is not None:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            con.execute("CREATE TEMP TABLE _subject_records (source VARCHAR, source_record_id VARCHAR)")
            con.executemany("INSERT INTO _subject_records VALUES (?, ?)",
                            [(r["source"], r["source_record_id"]) for r in held.get("source_records", [])])
            emails = {v.lower() for p in held.get("contact_points", []) if p["kind"] == "email"
                      for v in p.get("variants") or [p["contact_point"]] if v}
            con.execute("CREATE TEMP TABLE _subject_emails (email VARCHAR)")
            con.executemany("INSERT INTO _subject_emails VALUES (?)", [(e,) for e in sorted(emails)])
            held |= {name: _section(con, sql) for name, sql in present_sections(con, WAREHOUSE_SECTIONS).items()}
    document = {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "customers": [{"customer_id": customer_id, **held}],
                "warehouse_read": warehouse is not None, "not_included": list(NOT_INCLUDED)}
    with replaced_whole(out) as tmp:
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return {name: len(rows) for name, rows in held.items()}
