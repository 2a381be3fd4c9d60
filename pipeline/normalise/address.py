"""Postal addresses: street types expanded from seeds/street_types.csv, 5-digit French postcodes."""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from pipeline.config import SEEDS_DIR
from pipeline.normalise.names import clean, match_form

_COUNTRIES = {"fr": "FR", "fra": "FR", "france": "FR", "be": "BE", "belgique": "BE", "belgium": "BE",
              "ch": "CH", "suisse": "CH", "lu": "LU", "luxembourg": "LU", "mc": "MC", "monaco": "MC"}
_CITY_WORDS = {"st": "saint", "ste": "sainte"}


@lru_cache(maxsize=4)
def street_types(path: Path = SEEDS_DIR / "street_types.csv") -> dict[str, str]:
    """abbreviation -> street type, both in match form ('bd' -> 'boulevard')."""
    with open(path, encoding="utf-8", newline="") as handle:
        return {match_form(r["abbreviation"]): match_form(r["street_type"]) for r in csv.DictReader(handle)}


def normalise_street(value: object, types: dict[str, str]) -> str | None:
    """'12, bd Haussmann' -> '12 boulevard haussmann': match form with street types spelled out."""
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
            words.extend(types.get(w, w) for w in norm.split())
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
