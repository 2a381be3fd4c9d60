"""Steward overrides: for this customer, this attribute takes this value; they win over survivorship.

The value replaces the surviving one in golden.customer_profile and its lineage says so: source
'steward', source record = the decision id, date = when it was decided. The decision's status in
identity.steward_decisions says whether it was applied and, if not, why.
"""

from __future__ import annotations

import duckdb

from pipeline.identity.decisions import OVERRIDABLE
from pipeline.warehouse import quote

# The profile column's type, for the cast of the steward's text value.
_TYPES = {"birth_date": "DATE"}


def apply_overrides(con: duckdb.DuckDBPyConnection, profile: str = "golden.customer_profile") -> dict[str, int]:
    """Apply every pending override (latest decision last, so it wins); returns applied / not applied."""
    pending = con.execute("""SELECT decision_id, customer_id, attribute, value, decided_at
        FROM identity.steward_decisions WHERE status IS NULL AND decision = 'override'
        ORDER BY decided_at NULLS FIRST, decision_id""").fetchall()
    counts = {"applied": 0, "not_applied": 0}
    for decision_id, customer_id, attribute, value, decided_at in pending:
        lineage = OVERRIDABLE[attribute]
        cast = _TYPES.get(attribute, "VARCHAR")
        try:
            updated = con.execute(
                f"UPDATE {profile} SET {quote(attribute)} = CAST(? AS {cast}), {lineage}_source = 'steward', "
                f"{lineage}_source_record_id = ?, {lineage}_updated_at = TRY_CAST(? AS TIMESTAMP) "
                "WHERE customer_id = ? RETURNING customer_id", [value, decision_id, decided_at, customer_id]).fetchall()
            status = "applied" if updated else f"customer {customer_id} is not an active customer (merged, erased or unknown)"
        except duckdb.ConversionException:
            status = f"value is not a valid {attribute}"
        con.execute("UPDATE identity.steward_decisions SET status = ?, applied = ? WHERE decision_id = ?",
                    [status, status == "applied", decision_id])
        counts["applied" if status == "applied" else "not_applied"] += 1
    return counts
