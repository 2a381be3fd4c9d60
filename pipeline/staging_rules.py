"""What DuckDB decides in bulk during staging, written from the libraries' own rules so the result is theirs.

Phones: libphonenumber's metadata for a region (its country code, national prefix and the national-number
pattern of each number type) becomes one SQL expression. It decides the common shapes only, `+<country code>
<national number>` and `<national prefix><national number>` in plain digits, and only when the number is valid
(a type matched); anything else (another country's code, a shared country code, a prefix written as a pattern,
an invalid or odd number) is left NULL for the library to decide. `tests/test_staging_lookup.py` checks the SQL
against `normalise_phone` on every value it decides (the demo, hostile values, random digit strings per region).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from pipeline.sql import literal

# libphonenumber's order of tests (phonenumberutil._number_type_helper) and each type's kind in staging
# (pipeline/normalise/phone.py: fixed line and fixed-line-or-mobile are landlines).
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
    types = " ".join(f"WHEN {sql} THEN {literal(kind)}" for name, kind in _TYPES
                     if (sql := _matches("n", getattr(metadata, name))))
    return PhoneRules(code, nsn, f"CASE WHEN {guard} AND {general_n} THEN CASE {types} END END")


# Names, cities and streets: a value of plain letters (ASCII, and the Latin letters that are an ASCII letter plus
# accents: é, ç, ø is not one), spaces and ' - . (and, in streets, digits and commas) is normalised in SQL the
# way pipeline/normalise/names.py and address.py do it in Python; anything else goes to Python.
def _accented_letters() -> str:
    letters = []
    for point in range(0xC0, 0x250):
        char = chr(point)
        parts = unicodedata.normalize("NFD", char)
        if (char.isalpha() and len(parts) > 1 and parts[0].isascii() and parts[0].isalpha()
                and all(unicodedata.combining(p) for p in parts[1:])
                and len(char.upper()) == len(char.lower()) == 1 and char.title() == char.upper()):
            letters.append(char)
    return "".join(letters)


ACCENTED = _accented_letters()
LETTER = f"A-Za-z{ACCENTED}"
NAME_SEPARATORS = " '.-"


def plain_sql(column: str, digits: bool = False) -> str:
    """SQL: the value is plain (see above) and holds a letter."""
    extra = "0-9," if digits else ""
    allowed = f"[{LETTER}{extra} '.\\-]"
    return f"regexp_full_match({column}, {literal(f'{allowed}*[{LETTER}]{allowed}*')})"


def clean_sql(column: str) -> str:
    """names.clean on a plain value: inner runs of spaces collapsed, trimmed."""
    return f"trim(regexp_replace({column}, ' +', ' ', 'g'))"


def match_form_sql(column: str) -> str:
    """names.match_form on a plain value: ASCII lower-case letters and single spaces."""
    return (f"nullif(trim(regexp_replace(regexp_replace(lower(strip_accents({column})), '[^a-z ]+', ' ', 'g'), "
            f"' +', ' ', 'g')), '')")


def display_form_sql(cleaned: str) -> str:
    """names.display_form on a plain, cleaned value: lower case, each run of letters capitalised."""
    separators = literal(NAME_SEPARATORS + "0123456789,")
    return (f"array_to_string(list_transform(string_split(lower({cleaned}), ''), lambda c, i: "
            f"CASE WHEN i = 1 OR contains({separators}, substring(lower({cleaned}), i - 1, 1)) "
            f"THEN upper(c) ELSE c END), '')")


def city_sql(match_form: str) -> str:
    """address.normalise_city on a match form: 'st' and 'ste' spelled out."""
    return (f"array_to_string(list_transform(string_split({match_form}, ' '), lambda w: "
            "CASE w WHEN 'st' THEN 'saint' WHEN 'ste' THEN 'sainte' ELSE w END), ' ')")


def street_sql(cleaned: str, types: str) -> str:
    """address.normalise_street on a plain, cleaned value; `types` a MAP abbreviation -> street type. 'bis' and
    'ter' joined to their number (the character after them, not a letter or digit, is matched and put back)."""
    joined = (f"regexp_replace({cleaned}, '([0-9]) ?([bB][iI][sS]|[tT][eE][rR])($|[^{LETTER}0-9])', "
              "'\\1\\2\\3', 'g')")
    words = f"string_split(trim(regexp_replace(regexp_replace({joined}, '[,''.\\-]', ' ', 'g'), ' +', ' ', 'g')), ' ')"
    return (f"nullif(array_to_string(list_filter(list_transform({words}, lambda w: "
            f"CASE WHEN regexp_matches(w, '[0-9]') THEN lower(w) "
            f"ELSE coalesce(map_extract_value({types}, lower(strip_accents(w))), lower(strip_accents(w))) END), "
            "lambda w: w <> ''), ' '), '')")
