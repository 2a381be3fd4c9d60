"""Strong evidence that two records are two different people, whatever their shared household fields say.

Splink's naive-Bayes score lets a shared surname, address and landline outweigh a different first
name and birth date, so household members score as one person. These rules are a veto: two records
whose first names differ beyond a typo, a nickname or a first/last swap, or whose birth dates (both
known) differ beyond a typo (a digit, two adjacent digits swapped) or a day/month swap, are never put in the same cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from pipeline.normalise.names import nickname_groups

# Jaro-Winkler above which two first names are read as one name mistyped ('sephie'/'sophie' 0.91);
# twins' names ('lucas'/'louis' 0.76) and household pairs fall well below.
FIRST_NAME_TYPO_SIMILARITY = 0.88


@dataclass(frozen=True)
class PersonKey:
    """The fields the veto looks at, in match form (see staging.person_records)."""

    first_name: str | None
    first_name_canonical: str | None
    last_name: str | None
    birth_date: str | None  # ISO yyyy-mm-dd
    # (column, value) of each mapped identifier the record holds (features.IDENTIFIER_PREFIX columns), by column
    identifiers: tuple[tuple[str, str], ...] = ()

    def identifier(self, column: str) -> str | None:
        return next((v for c, v in self.identifiers if c == column), None)


NAME_DATE_COLUMNS = ("first_name", "first_name_canonical", "last_name", "birth_date")


def person_key(row: dict, side: str = "", identifiers: Sequence[str] = ()) -> PersonKey:
    """The key of a row holding the name and date columns (and `identifiers`), each suffixed by `side`."""
    held = tuple((c, row[c + side]) for c in identifiers if row.get(c + side))
    return PersonKey(*(row.get(c + side) for c in NAME_DATE_COLUMNS), held)


def _gender_variant(a: str, b: str) -> bool:
    """'louis'/'louise', 'daniel'/'danielle', 'jean'/'jeanne': two people, not a typo."""
    short, long_ = sorted((a, b), key=len)
    return long_.startswith(short) and long_[len(short):] in ("e", "le", "ne", "a", "te")


def _typo(a: str, b: str) -> bool:
    """One letter substituted, inserted, deleted or two swapped ('lzc'/'luc', 'gnevieve'/'genevieve'), or one letter
    of a three-letter name dropped ('aa'/'ana', 'la'/'lea': at 20k persons, seed 523, 32 true pairs one such typo
    apart were all vetoed although most shared surname and e-mail, and no pair of two people was). Two letters on
    both sides stay two names ('al'/'ed'): a substitution there is no typo to read."""
    short, long_ = sorted((a, b), key=len)
    return (len(short) >= 3 or len(short) == 2 and len(long_) == 3) and DamerauLevenshtein.distance(a, b) <= 1 \
        and not _gender_variant(a, b)


@lru_cache(maxsize=1_000_000)  # clustering asks of the same few thousand names over and over
def _same_name(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if a == b or _typo(a, b):
        return True
    if JaroWinkler.similarity(a, b) >= FIRST_NAME_TYPO_SIMILARITY and not _gender_variant(a, b):
        return True
    if _within(a.split(), b.split()) or _within(b.split(), a.split()):  # 'jean' / 'jean pierre': compound shortened
        return True
    if _initials_of(a.split(), b.split()) or _initials_of(b.split(), a.split()):  # 'j' / 'john', 'j a' / 'john andrew'
        return True
    return bool(_formal_names(a) & _formal_names(b))  # 'tony' may stand for anthony or antoine


def _within(short: list[str], long_: list[str]) -> bool:
    """Every word of `short` is a word of `long_`, as typed or with a typo ('jaen' / 'jean pierre': a compound
    shortened and mistyped, read as a conflict before, 4 of 195 conflicting anchor pairs of the French / German set)."""
    return len(short) < len(long_) and all(any(w == v or _typo(w, v) for v in long_) for w in short) \
        or set(short) == set(long_)


def _initials_of(initials: list[str], names: list[str]) -> bool:
    """Every word of `initials` a single letter, each opening the word of `names` in its place ('j' / 'john', 'j a' /
    'john andrew' or 'john'): given names as British and American forms write them ('Mr J Smith', 'J. A. Smith').
    'j' / 'john' was a conflict: a veto where the data make it one, and, among the anchors, a conflict that weakened
    what keeps spouses apart."""
    return bool(names) and all(len(w) == 1 for w in initials) and \
        all(v.startswith(w) for w, v in zip(initials, names, strict=False))


@lru_cache(maxsize=100_000)
def _formal_names(name: str) -> frozenset[str]:
    """The formal names a first name may stand for, tolerating one typo in a short form ('cthy')."""
    found = set(nickname_groups().get(name, {name}))
    if len(name) >= 3:
        for variant, formal in _variants_by_length().get(len(name), ()):
            if _typo(variant, name):
                found |= formal
    return frozenset(found)


@lru_cache(maxsize=1)
def _variants_by_length() -> dict[int, list[tuple[str, frozenset[str]]]]:
    """length -> the nickname variants one typo away in length (one letter more, fewer or the same)."""
    by_length: dict[int, list[tuple[str, frozenset[str]]]] = {}
    for variant, formal in nickname_groups().items():
        for length in (len(variant) - 1, len(variant), len(variant) + 1):
            by_length.setdefault(length, []).append((variant, formal))
    return by_length


def first_names_conflict(x: PersonKey, y: PersonKey) -> bool:
    if not x.first_name or not y.first_name:
        return False
    if _same_name(x.first_name, y.first_name) or _same_name(x.first_name_canonical, y.first_name_canonical):
        return False
    # The first name typed in the surname field on one side (swapped names, one side may lack the other).
    return not (_same_name(x.first_name, y.last_name) or _same_name(x.last_name, y.first_name))


def birth_dates_conflict(x: PersonKey, y: PersonKey) -> bool:
    if not x.birth_date or not y.birth_date or x.birth_date == y.birth_date:
        return False
    a, b = x.birth_date.replace("-", ""), y.birth_date.replace("-", "")
    if DamerauLevenshtein.distance(a, b) <= 1:
        return False  # one digit mistyped, or two adjacent digits transposed
    swapped = a[:4] + a[6:8] + a[4:6]  # yyyy dd mm
    return swapped != b


def identifiers_differ(a: str, b: str) -> bool:
    """Beyond the identifier comparison's one-edit level (model._identifier: one typo or one adjacent swap)."""
    return a != b and DamerauLevenshtein.distance(a, b) > 1


@cache  # one test per identifier column: clustering caches its answers per test
def identifier_conflict(column: str) -> Callable[[PersonKey, PersonKey], bool]:
    """Both records hold the identifier `column` and their values differ beyond one typo. What it is worth against a
    merge (nothing, a penalty, a veto) is learned per identifier (conflicts.py): one person may hold two loyalty
    cards, never two national ids."""
    def test(x: PersonKey, y: PersonKey) -> bool:
        a, b = x.identifier(column), y.identifier(column)
        return bool(a and b) and identifiers_differ(a, b)

    return test


def conflict(x: PersonKey, y: PersonKey) -> bool:
    """True when the records cannot be one person."""
    return first_names_conflict(x, y) or birth_dates_conflict(x, y)
