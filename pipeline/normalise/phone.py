"""Phone numbers to E.164 with Google's libphonenumber metadata (the phonenumbers package)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from pipeline.normalise import missing

_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
    PhoneNumberType.VOIP: "voip",
}


def normalise_phone(value: object, region: str = "FR") -> tuple[str | None, bool, str | None, str | None]:
    """(E.164 number or None, valid, kind: mobile/landline/voip/other, reason if invalid)."""
    if missing(value):
        return None, False, None, None
    text = str(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return None, False, None, f"not a phone number ({exc})"
    if not phonenumbers.is_valid_number(number):
        return None, False, None, "not a valid number for its region"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, True, _KINDS.get(phonenumbers.number_type(number), "other"), None
