"""Phone numbers to E.164 with Google's libphonenumber metadata (the phonenumbers package)."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from pipeline.normalise import missing

_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
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
        return None, False, None, why
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, True, _KINDS.get(phonenumbers.number_type(number), "other"), None
