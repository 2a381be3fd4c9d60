"""Value pools drawn once from Faker fr_FR, then sampled with numpy (fast, skewed like real names)."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from faker import Faker

from pipeline.config import SEEDS_DIR

EMAIL_DOMAINS = ["gmail.com", "orange.fr", "hotmail.fr", "free.fr", "yahoo.fr", "laposte.net", "sfr.fr",
                 "wanadoo.fr", "outlook.fr", "icloud.com"]
EMAIL_WEIGHTS = [0.34, 0.16, 0.12, 0.09, 0.07, 0.06, 0.05, 0.05, 0.04, 0.02]


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

    @classmethod
    def build(cls, seed: int) -> "Pools":
        fake = Faker("fr_FR")
        fake.seed_instance(seed)
        person = fake.provider("faker.providers.person")
        male = sorted(set(person.first_names_male))
        female = sorted(set(person.first_names_female))
        last = sorted(set(person.last_names))
        streets = sorted({fake.street_name() for _ in range(4000)})
        cities = sorted({(fake.postcode(), fake.city()) for _ in range(1500)})
        nicknames: dict[str, list[str]] = {}
        with open(SEEDS_DIR / "nicknames.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                nicknames.setdefault(row["name"], []).append(row["variant"])
        abbreviations: dict[str, list[str]] = {}
        with open(SEEDS_DIR / "street_types.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                abbreviations.setdefault(row["street_type"], []).append(row["abbreviation"])
        return cls(male, female, last, streets, cities, nicknames, abbreviations)



class Skewed:
    """Draws from a pool with Zipf-like frequencies (a few very common values, a long tail),
    the popular ones chosen by a seeded shuffle so frequency does not follow the alphabet."""

    def __init__(self, values: list, rng: np.random.Generator, skew: float = 0.9):
        self.values = [values[i] for i in rng.permutation(len(values))]
        self.cdf = np.cumsum(_zipf(len(values), skew))

    def draw(self, rng: np.random.Generator):
        return self.values[min(int(np.searchsorted(self.cdf, rng.random())), len(self.values) - 1)]
