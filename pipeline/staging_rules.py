"""What DuckDB decides in bulk during staging, written from the libraries' own rules so the result is theirs.

Phones: libphonenumber's metadata for a region (its country code, national prefix and the national-number
pattern of each number type) becomes one SQL expression. It decides the common shapes only, `+<country code>
<national number>` and `<national prefix><national number>` in plain digits, and only when the number is valid
(a type matched); anything else (another country's code, a shared country code, a prefix written as a pattern,
an invalid or odd number) is left NULL for the library to decide. `tests/test_staging_lookup.py` checks the SQL
against `normalise_phone` on every value it decides (the demo, hostile values, random digit strings per region).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from pipeline.normalise.phone import MOBILE_OR_LANDLINE
from pipeline.sql import literal

# libphonenumber's order of tests (phonenumberutil._number_type_helper) and each type's kind in staging
# (pipeline/normalise/phone.py; a fixed line that also matches the mobile pattern is the library's
# fixed-line-or-mobile: North America's, Mexico's and Chile's numbers, which do not say which they are).
_TYPES = [("premium_rate", "other"), ("toll_free", "other"), ("shared_cost", "other"), ("voip", "voip"),
          ("personal_number", "other"), ("pager", "other"), ("uan", "other"), ("voicemail", "other"),
          ("fixed_line", "landline"), ("mobile", "mobile")]
MAX_DIGITS = 20  # longer strings go to the library (its own length limits apply)


def _matches(column: str, desc) -> str | None:
    """SQL: `column` matches a PhoneNumberDesc as _is_number_matching_desc does (length, then the full pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = f"length({column}) IN ({', '.join(str(n) for n in desc.possible_length)}) AND " \
        if desc.possible_length else ""
    return f"({lengths}regexp_full_match({column}, {literal(desc.national_number_pattern)}))"


def _kind(kind: str, mobile: str | None) -> str:
    """SQL of a type's kind; a fixed line is mobile_or_landline where the mobile pattern matches it too."""
    if kind == "landline" and mobile:
        return f"CASE WHEN {mobile} THEN {literal(MOBILE_OR_LANDLINE)} ELSE 'landline' END"
    return literal(kind)


@dataclass(frozen=True)
class PhoneRules:
    """SQL of one region: `nsn` over a column `d` (the value without separators, `00` already turned into `+`)
    gives the national significant number or NULL; `kind` over a column `n` (that number) gives mobile, landline,
    voip or other for a valid number, NULL where the library must decide."""

    code: str
    nsn: str
    kind: str


@lru_cache(maxsize=64)
def phone_rules(region: str) -> PhoneRules | None:
    """The region's rules, or None when they cannot be written in SQL."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code) != (region,):
        return None  # no metadata, or a code shared by several regions (the library picks the region)
    prefix = metadata.national_prefix_for_parsing or ""
    if metadata.national_prefix_transform_rule or not (prefix == "" or prefix.isdigit()):
        return None
    code = str(metadata.country_code)
    general_d, general_n = _matches("d", metadata.general_desc), _matches("n", metadata.general_desc)
    if general_d is None:
        return None
    # +<code><nsn>; or <prefix><nsn> when the whole string is not itself a national number and does not start
    # with the international prefix.
    national = f"""WHEN starts_with(d, {literal(prefix)}) AND NOT {general_d}
                        AND NOT regexp_matches(d, {literal('^(?:' + (metadata.international_prefix or '$^') + ')')})
                   THEN substr(d, {len(prefix) + 1})""" if prefix else ""
    nsn = f"""CASE WHEN length(d) <= {MAX_DIGITS} AND regexp_full_match(d, '\\+?[0-9]+') THEN
                CASE WHEN starts_with(d, {literal('+' + code)}) THEN substr(d, {len(code) + 2}) {national} END END"""
    # The nsn must not start with the national prefix (the library would strip it again) nor with 0 (kept as a
    # leading zero); then the first type that matches, in the library's order.
    guard = "NOT starts_with(n, '0')" + (f" AND NOT starts_with(n, {literal(prefix)})" if prefix else "")
    mobile = _matches("n", metadata.mobile)
    types = " ".join(f"WHEN {sql} THEN {_kind(kind, mobile)}" for name, kind in _TYPES
                     if (sql := _matches("n", getattr(metadata, name))))
    return PhoneRules(code, nsn, f"CASE WHEN {guard} AND {general_n} THEN CASE {types} END END")

