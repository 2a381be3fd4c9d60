"""The ways people and clerks mistype a customer: typos, nicknames, case, accents, formats."""

from __future__ import annotations

import numpy as np

from pipeline.normalise.names import to_ascii

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(text: str, rng: np.random.Generator) -> str:
    """One substitution, insertion, deletion or transposition inside the word."""
    if len(text) < 3:
        return text
    i = int(rng.integers(1, len(text) - 1))
    kind = rng.integers(4)
    letter = _LETTERS[rng.integers(26)]
    if kind == 0:
        return text[:i] + letter + text[i + 1:]
    if kind == 1:
        return text[:i] + letter + text[i:]
    if kind == 2:
        return text[:i] + text[i + 1:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def nickname(first: str, nicknames: dict[str, list[str]], rng: np.random.Generator) -> str:
    variants = nicknames.get(to_ascii(first).lower())
    return variants[rng.integers(len(variants))].capitalize() if variants else first


def case_and_accents(text: str, rng: np.random.Generator, upper: float = 0.1, lower: float = 0.05,
                     no_accents: float = 0.1) -> str:
    if rng.random() < no_accents:
        text = to_ascii(text)
    r = rng.random()
    if r < upper:
        return text.upper()
    if r < upper + lower:
        return text.lower()
    return text


def email_variant(email: str, rng: np.random.Generator) -> str:
    local, domain = email.split("@")
    r = rng.random()
    if r < 0.08:
        return email.upper() if rng.random() < 0.3 else local.capitalize() + "@" + domain
    if r < 0.14:
        return f"{local}+{['promo', 'shop', 'news', 'fid'][rng.integers(4)]}@{domain}"
    if r < 0.18 and domain == "gmail.com":
        return local.replace(".", "") + "@" + domain if "." in local else local[:2] + "." + local[2:] + "@" + domain
    return email


def phone_format(digits: str, rng: np.random.Generator) -> str:
    """digits: '0612345678'."""
    pairs = [digits[i:i + 2] for i in range(0, 10, 2)]
    style = rng.integers(6)
    if style == 0:
        return " ".join(pairs)
    if style == 1:
        return digits
    if style == 2:
        return "+33" + digits[1:]
    if style == 3:
        return "0033 " + digits[1] + " " + " ".join(pairs[1:])
    if style == 4:
        return ".".join(pairs)
    return "+33 " + digits[1] + " " + " ".join(pairs[1:])


def street_variant(street: str, abbreviations: dict[str, list[str]], rng: np.random.Generator) -> str:
    words = street.split(" ")
    for i, word in enumerate(words):
        options = abbreviations.get(to_ascii(word).lower())
        if options and rng.random() < 0.6:
            abbr = options[rng.integers(len(options))]
            words[i] = abbr + ("." if rng.random() < 0.5 else "")
            break
    text = " ".join(words)
    if rng.random() < 0.1:
        text = text.replace(" ", ", ", 1)
    return case_and_accents(text, rng, upper=0.15, lower=0.1, no_accents=0.2)
