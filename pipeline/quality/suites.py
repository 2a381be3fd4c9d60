"""The expectation suites, one function per guarded table. Thresholds are module constants, documented
in the README ("Validation")."""

from __future__ import annotations

from datetime import date
from types import ModuleType

from pipeline.config import CONSENT_CHANNELS

E164 = r"^\+[1-9][0-9]{6,14}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
FR_POSTCODE = r"^[0-9]{5}$"
# A source is refused when, of the values it sends, fewer than this share are valid, or when more than
# MAX_QUARANTINE_SHARE of its rows cannot be staged, or when it sends nothing at all.
MIN_VALID_SHARE = 0.5
MAX_QUARANTINE_SHARE = 0.2


def _gxe() -> ModuleType:
    """Great Expectations' expectations, imported when a suite is built: a process that validates nothing (the code
    server, the daemon's schedule and sensor, `customer360 --help`, `lookup`) never pays its import (~3-5 CPU s)."""
    import great_expectations.expectations as gxe

    return gxe


def staging_persons(today: date) -> list:
    gxe = _gxe()
    required = ["source", "source_record_id", "first_name_norm", "last_name_norm", "birth_date", "email",
                "email_valid", "phone", "phone_valid", "postcode", "record_updated_at"]
    return [
        # One expectation for the eleven columns: GX's cost is per expectation (~10 ms each, whatever the rows),
        # and eleven ExpectColumnToExist were half of this suite's expectations.
        gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False),
        gxe.ExpectColumnValuesToNotBeNull(column="source"),
        gxe.ExpectColumnValuesToNotBeNull(column="source_record_id"),
        # Each key once in the whole table (counted in SQL): no two checked rows share one either, so a compound
        # uniqueness expectation on the rows checked would only repeat it (a quarter of the suite's time at 100k).
        gxe.ExpectColumnValuesToBeBetween(column="key_count", min_value=1, max_value=1),
        gxe.ExpectColumnValuesToMatchRegex(column="valid_email", regex=EMAIL),
        gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=E164),
        gxe.ExpectColumnValuesToMatchRegex(column="fr_postcode", regex=FR_POSTCODE),
        gxe.ExpectColumnValuesToBeBetween(column="birth_year", min_value=1900, max_value=today.year),
    ]


# Columns the staged-persons check computes in SQL rather than reads from staging.person_records.
DERIVED = ("key_count", "birth_year", "valid_email", "fr_postcode")


def values_read(expectations: list) -> list[str]:
    """The table columns whose values the suite reads: those named by an expectation other than the column set's
    (which reads the frame's column names only)."""
    gxe = _gxe()
    return columns_read([e for e in expectations if not isinstance(e, gxe.ExpectTableColumnsToMatchSet)])


def columns_read(expectations: list) -> list[str]:
    """The table columns a suite names (its expectations' column, column_list and column_set), derived ones left out."""
    names = []
    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        for name in [kwargs.get("column"), *(kwargs.get("column_list") or []), *(kwargs.get("column_set") or [])]:
            if name and name not in DERIVED and name not in names:
                names.append(name)
    return names


def source_health() -> list:
    """On one row per source: validity of what it sends, quarantine share. (A source with no rows is not
    bad data: its extract's `has_rows` check warns, and the run goes on with the other sources.)"""
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToBeBetween(column="email_valid_share", min_value=MIN_VALID_SHARE),
        gxe.ExpectColumnValuesToBeBetween(column="phone_valid_share", min_value=MIN_VALID_SHARE),
        gxe.ExpectColumnValuesToBeBetween(column="postcode_valid_share", min_value=MIN_VALID_SHARE),
        gxe.ExpectColumnValuesToBeBetween(column="consent_read_share", min_value=MIN_VALID_SHARE),
        gxe.ExpectColumnValuesToBeBetween(column="quarantine_share", max_value=MAX_QUARANTINE_SHARE),
    ]


def consent_events() -> list:
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToBeInSet(column="consent_action", value_set=["opt_in", "opt_out"]),
        gxe.ExpectColumnValuesToBeInSet(column="consent_channel", value_set=list(CONSENT_CHANNELS)),
        gxe.ExpectColumnValuesToNotBeNull(column="occurred_at", mostly=0.99),
    ]


def parameter(name: str) -> dict:
    """A value given when the suite runs (GXRunner.run's `parameters`), not kept in the suite: a count that
    changes every run would otherwise make a new suite, registered again each run (~0.2-1 s)."""
    return {"$PARAMETER": name}


def identity_clusters(max_cluster_size: int) -> list:
    """On the rows of identity.clusters a run wrote (every row on a first run); the whole table's invariants (row
    count, unique ids, every record clustered, largest cluster, model health) are counted in SQL
    (assets/quality.py: identity_clusters_valid)."""
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="cluster_key"),
        # Each row's size rather than the column's maximum: a day that rewrites no row validates an empty frame,
        # whose maximum GX fails.
        gxe.ExpectColumnValuesToBeBetween(column="cluster_size", max_value=max_cluster_size),
        gxe.ExpectColumnValuesToBeBetween(column="match_probability", min_value=0, max_value=1),
    ]


def customer_360() -> list:
    """Parameter: expected_customers."""
    gxe = _gxe()
    return [
        gxe.ExpectTableRowCountToEqual(value=parameter("expected_customers")),
        gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
        *[gxe.ExpectColumnValuesToBeBetween(column=c, min_value=1, max_value=5) for c in ("r_score", "f_score", "m_score")],
        gxe.ExpectColumnValuesToBeInSet(column="contactable_without_consent", value_set=[False]),
    ]
