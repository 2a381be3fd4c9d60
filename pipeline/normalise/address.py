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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.config import SEEDS_DIR
from pipeline.normalise.names import clean, match_form

_COUNTRIES = {"fr": "FR", "fra": "FR", "france": "FR", "be": "BE", "belgique": "BE", "belgium": "BE",
              "ch": "CH", "suisse": "CH", "lu": "LU", "luxembourg": "LU", "mc": "MC", "monaco": "MC"}
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


def normalise_street(value: object, types: StreetTypes) -> str | None:
    """'12, bd Haussmann' -> '12 boulevard haussmann', 'Hauptstr. 5' (German) -> 'hauptstrasse 5': match form with
    street types spelled out."""
    text = clean(value)
    if text is None:
        return None
    text = re.sub(r"(\d)\s*(bis|ter)\b", r"\1\2", text, flags=re.IGNORECASE)
    text = re.sub(r"[^\w\s]", " ", text)
    words = []
    for word in text.split():
        if any(ch.isdigit() for ch in word):
            words.append(word.lower())  # house numbers: '12', '12bis'
            continue
        norm = match_form(word)
        if norm:
            words.extend(types.expand(w) for w in norm.split())
    return " ".join(words) or None


def normalise_postcode(value: object, country: str = "FR") -> tuple[str | None, bool]:
    """(postcode, valid). French postcodes are 5 digits; a lost leading zero ('1000') is restored."""
    text = clean(value)
    if text is None:
        return None, False
    if country != "FR":
        return text.upper(), True
    digits = re.sub(r"\D", "", text)
    if len(digits) == 4 and digits == text.replace(" ", ""):
        digits = "0" + digits
    return (digits, True) if re.fullmatch(r"\d{5}", digits) else (None, False)


def normalise_city(value: object) -> str | None:
    """Match form with 'st'/'ste' spelled out: 'ST-DENIS' -> 'saint denis'."""
    norm = match_form(value)
    if norm is None:
        return None
    return " ".join(_CITY_WORDS.get(w, w) for w in norm.split())


def normalise_country(value: object, default: str = "FR") -> str:
    norm = match_form(value)
    if norm is None:
        return default
    return _COUNTRIES.get(norm, norm.upper()[:2])
