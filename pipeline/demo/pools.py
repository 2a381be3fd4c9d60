"""Value pools drawn once from Faker fr_FR, then sampled with numpy (fast, skewed like real names)."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass

import numpy as np
from faker import Faker

from pipeline.config import SEEDS_DIR

EMAIL_DOMAINS = ["gmail.com", "orange.fr", "hotmail.fr", "free.fr", "yahoo.fr", "laposte.net", "sfr.fr",
                 "wanadoo.fr", "outlook.fr", "icloud.com"]
EMAIL_WEIGHTS = [0.34, 0.16, 0.12, 0.09, 0.07, 0.06, 0.05, 0.05, 0.04, 0.02]


FRENCH = ["fr_FR", "fr_CA", "fr_CH"]
OTHER = ["it_IT", "es_ES", "pt_PT", "ar_AA", "nl_BE", "de_DE"]


def _latin(name: str) -> bool:
    """Written in Latin letters (the demo's sources are French; ar_AA's names are in Arabic script)."""
    letters = name.replace("-", "").replace(" ", "")
    return letters.isalpha() and all(unicodedata.name(c, "").startswith("LATIN ") for c in letters)


def _names(locales: list[str], kind: str = "male") -> list[str]:
    """Distinct names of these locales, sorted."""
    names = set()
    for loc in locales:
        provider = Faker(loc).provider("faker.providers.person")
        attr = {"male": "first_names_male", "female": "first_names_female", "last": "last_names"}[kind]
        names |= {n for n in getattr(provider, attr, []) if _latin(n)}
    return sorted(names)


def _derived(roots: list[str]) -> list[str]:
    """French surname derivations of the roots (Martin -> Martinet, Martineau, Martinon...)."""
    out = set()
    for root in roots:
        if " " in root or "-" in root or len(root) < 4:
            continue
        stem = root[:-1] if root[-1] in "e" else root
        out.update(stem + suffix for suffix in ("eau", "et", "ot", "on", "ard", "ier", "in"))
    return sorted(out - set(roots))


def _zipf(n: int, s: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


@dataclass
class Pools:
    male: list[str]
    female: list[str]
    last: list[str]
    streets: list[str]
    cities: list[tuple[str, str]]   # (postcode, city)
    nicknames: dict[str, list[str]]
    abbreviations: dict[str, list[str]]
    french: dict[str, int]          # pool -> how many of its first values are French

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("fr_FR")
        fake.seed_instance(seed)
        # ~90% French first names, ~80% French-origin surnames with a long tail, as in France's population.
        # Pools list the French names first: the skewed draw gives them the top ranks.
        male, female = _names(FRENCH), _names(FRENCH, "female")
        french_last = _names(FRENCH, "last")
        last = french_last + _derived(french_last)
        for loc in OTHER:
            male += [n for n in _names([loc])[:40] if n not in male]
            female += [n for n in _names([loc], "female")[:40] if n not in female]
            last += [n for n in _names([loc], "last")[:250] if n not in last]
        streets = sorted({fake.street_name() for _ in range(4000)})
        cities = sorted({(fake.postcode(), fake.city()) for _ in range(1500)})
        nicknames: dict[str, list[str]] = {}
        with open(SEEDS_DIR / "nicknames.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["language"] == "fr":  # the demo's customers are French: never 'Dan' for their Daniel
                    nicknames.setdefault(row["name"], []).append(row["variant"])
        abbreviations: dict[str, list[str]] = {}
        with open(SEEDS_DIR / "street_types.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["language"] == "fr":  # the demo's addresses are French
                    abbreviations.setdefault(row["street_type"], []).append(row["abbreviation"])
        french = {"male": len(_names(FRENCH)), "female": len(_names(FRENCH, "female")), "last": len(french_last)}
        return cls(male, female, last, streets, cities, nicknames, abbreviations, french)



class Skewed:
    """Draws from a pool with Zipf-like frequencies (a few very common values, a long tail),
    the popular ones chosen by a seeded shuffle so frequency does not follow the alphabet."""

    def __init__(self, values: list, rng: np.random.Generator, skew: float = 0.9, head: int | None = None):
        head = len(values) if head is None else head  # the first `head` values take the top ranks
        first, rest = values[:head], values[head:]
        self.values = [first[i] for i in rng.permutation(len(first))] + [rest[i] for i in rng.permutation(len(rest))]
        self.cdf = np.cumsum(_zipf(len(values), skew))

    def draw(self, rng: np.random.Generator):
        return self.values[min(int(np.searchsorted(self.cdf, rng.random())), len(self.values) - 1)]
