"""E-mail addresses: syntax validation (email-validator, no DNS) and a matching key."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from pipeline.normalise import missing

# Providers that ignore dots in the local part; '+tag' is ignored by most providers.
_DOTLESS_DOMAINS = {"gmail.com", "googlemail.com"}


def normalise_email(value: object) -> tuple[str | None, bool, str | None]:
    """(normalised address, valid, reason if invalid). The address is lower-cased and trimmed."""
    if missing(value):
        return None, False, None
    # Turkish capital İ lowers to 'i' and a combining dot in Python: 'İSMAİL@...' (a CRM upper-casing in a Turkish
    # locale) was a mailbox apart from 'ismail@...', never matched by its erasure request nor linked by it.
    text = str(value).strip().replace("İ", "i").lower()
    if not text.isascii():  # typed on a Chinese, Japanese or Korean keyboard: 'wang＠example.cn' was no address
        text = text.translate(_FULL_WIDTH)
    try:
        return _validated(text), True, None
    except EmailNotValidError as exc:
        addresses = _ADDRESS.findall(text)
        try:
            first = _validated(_bare(addresses[0])) if addresses else None
        except EmailNotValidError:
            first = None
        if first is None:
            return text, False, str(exc)
        return first, True, None


# Full-width ASCII forms (U+FF01-FF5E: '＠', 'ａ', '．') as the ASCII they stand for, and the ideographic space.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def further_addresses(text: str) -> list[str]:
    """The addresses after the first of a cell holding several (`a@x.fr; b@y.fr`), as written: staging makes them
    further contact points of the record (staging.person_contacts), the first being the record's e-mail."""
    found = _ADDRESS.findall(text)
    return [_bare(a) for a in found[1:]]


def _validated(text: str) -> str:
    return validate_email(text, check_deliverability=False).normalized.lower()


# An address inside a cell that is not one address alone, as exports and pastes write it: a display name
# ('Jean Dupont <jean@x.fr>'), a link ('mailto:jean@x.fr'), quotes, a sentence's last dot, spaces around the '@' a
# form let through, or two addresses ('a@x.fr; b@y.fr': the first is the record's e-mail, further_addresses the others).
_ADDRESS = re.compile(r"""[^\s,;/|<>"'()\[\]?@]+\s*@\s*[^\s,;/|<>"'()\[\]?@]+""")
_NOT_OF_THE_ADDRESS = re.compile(r"^mailto:|\s+", re.IGNORECASE)


def _bare(found: str) -> str:
    """An address found in a cell without its link scheme, spaces and a sentence's last mark."""
    return _NOT_OF_THE_ADDRESS.sub("", found).rstrip(".,;:")


def email_match_key(email: str | None) -> str | None:
    """The mailbox behind an address: '+tags' dropped, and dots too at providers that ignore them."""
    if missing(email) or "@" not in email:
        return None
    local, domain = email.rsplit("@", 1)
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}" if local else None
