"""Steward overrides: for this customer, this attribute takes this value; they win over survivorship.

An override goes through the normalisation and validation a source value goes through (staging): an e-mail
is lower-cased and must be a valid address, a phone becomes E.164 and must be a mobile for `mobile`, a
postcode must be valid for the customer's country, a birth date must parse and be plausible. An invalid
value is refused with its reason in the decision's status, and the surviving value stays. An applied value
replaces the surviving one in golden.customer_profile (with the match forms derived from it) and its lineage
says so: source 'steward', source record = the decision id, date = when it was decided. `effect` says whether
it changed the golden value or confirmed it.
"""

from __future__ import annotations

from datetime import date

import duckdb

from pipeline.identity.decisions import OVERRIDABLE
from pipeline.normalise import address, names, phone, subdivision, values
from pipeline.normalise.email import normalise_email
from pipeline.sql import quote

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


def normalise_override(attribute: str, value: str | None, country: str | None) -> tuple[object, str | None]:
    """(the value as staging would store it, None) or (None, why it is refused)."""
    region = country or "FR"
    if value is None or not str(value).strip():
        return None, "empty value"
    if attribute == "email":
        mail, ok, why = normalise_email(value)
        return (mail, None) if ok else (None, f"not a valid e-mail address ({why})")
    if attribute in ("mobile", "landline"):
        number, ok, kind, why = phone.normalise_phone(value, region)
        if not ok:
            return None, f"not a valid phone number ({why})"
        if kind != phone.MOBILE_OR_LANDLINE and (kind == "mobile") != (attribute == "mobile"):
            return None, f"a {kind} number, not a {attribute}"
        return number, None
    if attribute == "postcode":
        code, ok = address.normalise_postcode(value, region)
        return (code, None) if ok else (None, f"not a valid postcode for {region}")
    if attribute == "state":
        code, why = subdivision.normalise_state(value, region, None)
        return (code, None) if code else (None, why)
    if attribute == "birth_date":
        born, why = values.parse_birth_date(value, _DATE_FORMATS, date.today())
        return (born, None) if born else (None, f"not a valid birth date ({why})")
    if attribute == "country":
        return address.normalise_country(value, region), None
    if attribute == "street":
        return names.clean(value), None
    return names.display_form(value, given=attribute == "first_name"), None  # first_name, last_name, city


# Match forms kept beside a display value in the profile, derived again when the value is overridden.
# (value, the customer's country) -> the match form: street abbreviations are read in the country's language.
_DERIVED = {"last_name": ("last_name_norm", lambda v, _: names.match_form(v)),
            "street": ("street_norm", lambda v, country: address.normalise_street(v, address.street_types(country)))}


# The customers an override names: apply_overrides reads their golden values, so they are built with them even when
# excluded (the purge then removes them, purge.as_purged).
OVERRIDDEN_CUSTOMERS_SQL = ("SELECT customer_id FROM identity.steward_decisions WHERE decision = 'override' "
                            "AND customer_id IS NOT NULL")  # NOT IN a relation holding a NULL spares everyone


def apply_overrides(con: duckdb.DuckDBPyConnection, profile: str = "golden.customer_profile") -> dict[str, int]:
    """Apply every pending override (latest decision last, so it wins); returns applied / not applied."""
    pending = con.execute("""SELECT decision_id, customer_id, attribute, value, decided_at
        FROM identity.steward_decisions WHERE status IS NULL AND decision = 'override'
        ORDER BY decided_at NULLS FIRST, decision_id""").fetchall()
    counts = {"applied": 0, "not_applied": 0}
    for decision_id, customer_id, attribute, value, decided_at in pending:
        lineage = OVERRIDABLE[attribute]
        current = con.execute(f"SELECT CAST({quote(attribute)} AS VARCHAR), country FROM {profile} WHERE customer_id = ?",
                              [customer_id]).fetchall()
        effect = None
        if not current:
            status = f"customer {customer_id} is not an active customer (merged, erased or unknown)"
        else:
            normalised, refused = normalise_override(attribute, value, current[0][1])
            status = f"refused: {refused}" if refused else "applied"
        if status == "applied":
            extra, params = "", []
            if attribute in _DERIVED:
                column, derive = _DERIVED[attribute]
                extra, params = f", {column} = ?", [derive(normalised, current[0][1])]
            con.execute(
                f"UPDATE {profile} SET {quote(attribute)} = ?{extra}, {lineage}_source = 'steward', "
                f"{lineage}_source_record_id = ?, {lineage}_updated_at = TRY_CAST(? AS TIMESTAMP) WHERE customer_id = ?",
                [normalised, *params, decision_id, decided_at, customer_id])
            effect = "value confirmed" if str(normalised) == current[0][0] else "value changed"
        con.execute("UPDATE identity.steward_decisions SET status = ?, applied = ?, effect = ? WHERE decision_id = ?",
                    [status, status == "applied", effect, decision_id])
        counts["applied" if status == "applied" else "not_applied"] += 1
    return counts
