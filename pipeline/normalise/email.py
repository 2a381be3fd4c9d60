"""E-mail addresses: syntax validation (email-validator, no DNS) and a matching key."""

from __future__ import annotations

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
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return text, False, str(exc)
    return result.normalized.lower(), True, None


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
