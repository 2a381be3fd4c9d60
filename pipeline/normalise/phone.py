"""Phone numbers to E.164 with Google's libphonenumber metadata (the phonenumbers package)."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from pipeline.normalise import missing

# A number its plan does not say is a mobile or a landline (North America, Mexico, Chile): identity compares it as a
# landline (a household may share it), and the golden record may keep it as either (an SMS still needs its opt-in).
MOBILE_OR_LANDLINE = "mobile_or_landline"
_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: MOBILE_OR_LANDLINE,
    PhoneNumberType.VOIP: "voip",
}


# An extension after the number, written as a word in any language and up to six digits: libphonenumber reads
# 'ext.', 'x', 'доб.' but not 'wew. 12' (Polish), 'dahili 45' (Turkish), '内線 203' (Japanese), 'poste 12' (French),
# and the number before them was a field issue. The extension itself is dropped, as libphonenumber's are.
_EXTENSION = re.compile(r"\s*[^\W\d_]+\.?:?\s*\d{1,6}\s*$")


def _parsed(text: str, region: str) -> tuple[phonenumbers.PhoneNumber | None, str | None]:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return None, f"not a phone number ({exc})"
    if not phonenumbers.is_valid_number(number):
        return None, "not a valid number for its region"
    return number, None


def normalise_phone(value: object, region: str = "FR") -> tuple[str | None, bool, str | None, str | None]:
    """(E.164 number or None, valid, kind: mobile/landline/voip/other, reason if invalid)."""
    if missing(value):
        return None, False, None, None
    text = str(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    number, why = _parsed(text, region)
    if why and (extension := _EXTENSION.search(text)) and extension.start():
        number, _ = _parsed(text[:extension.start()], region)  # the number before an extension written as a word
        why = None if number else why
    if why:
        found = _matches(text, region)
        if not found:
            return None, False, None, why
        number = found[0].number
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, True, _KINDS.get(phonenumbers.number_type(number), "other"), None


def _matches(text: str, region: str) -> list:
    """The valid numbers written in a cell that is not one number alone, as CRMs fill them: a label after it
    ('06 12 34 56 78 (domicile)'), or two numbers ('0612345678 / 0145678901': the first is the record's phone,
    further_numbers the others); libphonenumber's matcher finds them as it does in free text. Every digit of the cell
    must belong to a number found: '0612345678 9' or a date beside a number gives none."""
    matches = list(phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID))
    rest = list(text)
    for m in matches:
        rest[m.start:m.end] = " " * (m.end - m.start)
    return [] if any(c.isdigit() for c in rest) else matches


def further_numbers(text: str, region: str) -> list[str]:
    """The numbers after the first of a cell holding several, as written: staging makes them further contact points
    of the record (staging.person_contacts), each read again in its record's region."""
    return [m.raw_string for m in _matches(text, region)[1:]]
