"""Dates, timestamps and numbers written the way each source writes them."""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from pipeline.config import EPOCH_UNITS, SERIAL_DAYS, is_currency
from pipeline.normalise import ascii_digits, missing
from pipeline.warehouse import scratch


def parse_datetime(value: object, formats: tuple[str, ...]) -> tuple[datetime | None, str | None]:
    """(timestamp, reason if unparseable or ambiguous) trying every declared format, then ISO 8601.

    A value two declared formats read as different dates (`03/04/2024` under both `%d/%m/%Y` and `%m/%d/%Y`) is not
    read: which one the source meant is unknowable from the value, and taking the first listed put a month-first
    date's day in its month without a word. It is a field issue naming both readings. A reading whose year has fewer
    than four digits (`%Y` taking `24` for the year 24 beside `%y`'s 2024) does not count against a full one."""
    if missing(value):
        return None, None
    # full-width digits and spaces as ASCII ('１９６９年１月２日', typed on a Japanese keyboard), and every script's digits
    # ('١٢/١٠/٢٠٢٦'): strptime's %m and %d match ASCII digits only
    text = ascii_digits(str(value).strip())
    readings: dict[datetime, str] = {}
    for fmt in formats:
        try:
            readings.setdefault(_epoch(text, EPOCH_UNITS[fmt]) if fmt in EPOCH_UNITS else serial_day(text)
                                if fmt == SERIAL_DAYS else datetime.strptime(text, fmt), fmt)
        except (ValueError, OverflowError):
            continue
    full = {when: fmt for when, fmt in readings.items() if when.year >= 1000}
    if len(full) > 1:
        return None, f"'{text}' is ambiguous: " + " or ".join(
            f"{when.isoformat(sep=' ').removesuffix(' 00:00:00')} ({fmt})" for when, fmt in full.items()) + \
            f" under the declared formats {list(formats)}"
    if readings:
        return next(iter(full or readings)), None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=None), None
    except ValueError:
        pass
    if any("%b" in f or "%B" in f for f in formats) and (english := _english_months(text)) != text:
        parsed, why = parse_datetime(english, tuple(f.replace("%b", "%B") for f in formats))
        if parsed is not None or "ambiguous" in (why or ""):
            return parsed, why
    hint = ""
    if SERIAL_DAYS in formats and _SERIAL.fullmatch(text) and int(float(text.replace(",", "."))) == _FAKE_LEAP_DAY:
        hint = f"; {text} is Excel's 1900-02-29, a day that never was (its 1900 leap-year bug)"
    elif _SERIAL_DAY.fullmatch(text) and SERIAL_DAYS not in formats:
        hint = f"; a spreadsheet's day number? {text} is {(_SERIAL_EPOCH + timedelta(days=int(text))).isoformat()}: " \
               f"declare {SERIAL_DAYS!r} in date_formats, or export the column as a date"
    return None, f"'{text}' matches none of the formats {list(formats)} (or is an impossible date){hint}"


_SERIAL = re.compile(r"\d{1,7}(?:[.,]\d+)?")
_FAKE_LEAP_DAY = 60  # Excel's 1900-02-29 (Lotus 1-2-3's leap-year bug, kept for compatibility): no day at all
_LAST_SERIAL = 2_958_465  # 9999-12-31


def serial_day(text: str) -> datetime:
    """A spreadsheet's serial day number in Excel's 1900 date system (`45234` = 2023-11-02; a fraction is the time of
    day, `45234.5` noon, kept to the millisecond as Excel does); ValueError for any other text. Day 1 is 1900-01-01
    and day 60 Excel's 1900-02-29, which never was (no date), so the days before it count from one day later than
    those after it. Read only where date_formats declares it: a bare number is also a year, an epoch, an amount."""
    if not _SERIAL.fullmatch(text):
        raise ValueError(text)
    serial = float(text.replace(",", "."))
    day = int(serial)
    if not 1 <= day <= _LAST_SERIAL or day == _FAKE_LEAP_DAY:
        raise ValueError(text)
    epoch = _SERIAL_EPOCH if day > _FAKE_LEAP_DAY else _SERIAL_EPOCH + timedelta(days=1)
    return datetime.combine(epoch, datetime.min.time()) + timedelta(days=day,
                                                                    milliseconds=round((serial - day) * 86_400_000))


_INTEGER = re.compile(r"-?\d{1,16}")
_UNIX_EPOCH = datetime(1970, 1, 1)


def _epoch(text: str, per_second: int) -> datetime:
    """A whole number of seconds (`per_second` 1) or milliseconds (1000) since 1970-01-01 UTC, as a UTC timestamp (DuckDB's
    strptime reads none: such values come here); ValueError otherwise."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return _UNIX_EPOCH + timedelta(microseconds=int(text) * (1_000_000 // per_second))


# Month names and their abbreviations in English, French, German, Spanish, Italian, Portuguese and Dutch (accents and case
# dropped): Python's and DuckDB's %B and %b read English only, so `12 mars 1980` under '%d %B %Y' was a field issue.
_MONTHS = {name: month for month, names in enumerate([
    "january jan janvier janv januar janner jaenner enero ene gennaio gen janeiro januari",
    "february feb fevrier fevr fev februar febrero febbraio fevereiro februari",
    "march mar mars marz maerz mrz marzo marco maart mrt",
    "april apr avril avr abril abr aprile",
    "may mai mayo maggio mag maio mei",
    "june jun juin juni junio giugno giu junho",
    "july jul juillet juil juli julio luglio lug julho",
    "august aug aout agosto ago augustus",
    "september sep septembre sept septiembre setiembre settembre set setembro",
    "october oct octobre oktober okt octubre ottobre ott outubro out",
    "november nov novembre noviembre novembro",
    "december dec decembre dezember dez diciembre dic dicembre dezembro"], 1) for name in names.split()}
_ENGLISH_MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December"]
_WORD = re.compile(r"[^\W\d_]+\.?")
_SERIAL_DAY = re.compile(r"[1-9]\d{4}")  # 10000-99999: 1927-05-18 to 2173-10-14 as a spreadsheet's day number
_SERIAL_EPOCH = date(1899, 12, 30)  # Excel's (and LibreOffice's) day 0, its 1900 leap-year bug included


def _english_months(text: str) -> str:
    """`12 mars 1980` -> `12 March 1980`: each month name or abbreviation of the languages above in English."""
    def english(word: re.Match) -> str:
        key = "".join(c for c in unicodedata.normalize("NFKD", word[0].rstrip(".").casefold())
                      if not unicodedata.combining(c))
        return _ENGLISH_MONTHS[_MONTHS[key]] if key in _MONTHS else word[0]
    return _WORD.sub(english, text)


def strptime_sql(column: str, formats: tuple[str, ...]) -> str:
    """DuckDB's reading of `column` as parse_datetime's: the timestamp every declared format that reads it agrees on
    (a year under 1000 not counting against a full one), NULL when none reads it or two disagree, for parse_datetime
    to give the ISO reading or the reason. Parameters: format_params(formats)."""
    if len(formats) < 2:  # nothing to disagree with: DuckDB's own list form
        return f"try_strptime({column}, $formats)"
    readings = ", ".join(f"try_strptime({column}, $format_{i})" for i in range(len(formats)))
    full = f"list_distinct(list_filter([{readings}], lambda x: year(x) >= 1000))"
    return f"CASE len({full}) WHEN 1 THEN {full}[1] WHEN 0 THEN try_strptime({column}, $formats) END"


def format_params(formats: tuple[str, ...]) -> dict:
    """The SQL parameters of strptime_sql."""
    singles = {f"format_{i}": f for i, f in enumerate(formats)} if len(formats) > 1 else {}
    return {"formats": list(formats), **singles}


def parse_birth_date(value: object, formats: tuple[str, ...], today: date) -> tuple[date | None, str | None]:
    """A birth date between 1900 and today, or None with the reason. A two-digit year is a birth's: strptime's `%y`
    reads 00-68 as 2000-2068, so a till's `12/03/55` was 2055, an implausible date and a lost field; a year after
    today written without its four digits is taken a century earlier (1955)."""
    parsed, reason = parse_datetime(value, formats)
    if parsed is None:
        return None, reason
    born = parsed.date()
    if born > today and str(born.year) not in str(value) and born.year - 100 >= 1900:
        with contextlib.suppress(ValueError):  # 29 February of a year whose century back is no leap year
            born = born.replace(year=born.year - 100)
    if not date(1900, 1, 1) <= born <= today:
        return None, f"implausible birth date {born.isoformat()}"
    return born, None


_SQL_FORMAT = re.compile(r"(?:%[YmdHMS]|[^%])+")  # formats DuckDB's strftime writes as Python's strptime reads them


def parse_birth_dates(values: list[str], formats: tuple[str, ...], today: date) -> list[tuple[date | None, str | None]]:
    """parse_birth_date of each value. DuckDB decides in bulk the values written exactly in the first format (they
    read back as written: zero-padded, four-digit years, so strptime reads them the same) whose date is plausible;
    the others (other formats, ISO fallback, implausible or unreadable dates and their reasons) go through Python."""
    decided: dict[str, date] = {}
    if values and formats and _SQL_FORMAT.fullmatch(formats[0]):
        with scratch() as con:
            con.register("_values", pd.DataFrame({"v": values}, dtype=object))
            decided = dict(con.execute(f"""SELECT v, d::DATE FROM (SELECT v, {strptime_sql("v", formats)} AS d
                    FROM _values)
                WHERE strftime(d, $formats[1]) = v AND d::DATE BETWEEN DATE '1900-01-01' AND $today""",
                                       {**format_params(formats), "today": today}).fetchall())
    return [(decided[v], None) if v in decided else parse_birth_date(v, formats, today) for v in values]


_NUMBER_MARKS = re.compile(r"[\s\u00a0\u202f'’€$£¥₹₽₺₩₴₪₸]")  # thousands separators and currency signs, dropped
# The currency each sign writes. `$` and `¥` write several: the source's declared currency when it is one of them
# (a Canadian shop's `$12`), else the first, the most traded.
_SIGNS = {"€": ("EUR",), "£": ("GBP",), "$": ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN"), "¥": ("JPY", "CNY"),
          "₹": ("INR",), "₽": ("RUB",), "₺": ("TRY",), "₩": ("KRW",), "₴": ("UAH",), "₪": ("ILS",), "₸": ("KZT",)}
# A dollar's country before its sign (`US$`, `C$`, `HK$`): that dollar, whatever the declared currency.
_DOLLARS = re.compile(r"(?<![A-Za-z])(US|CA|C|AU|A|NZ|HK|SG|S|MX)\$")
_DOLLAR_CODES = {"US": "USD", "CA": "CAD", "C": "CAD", "AU": "AUD", "A": "AUD", "NZ": "NZD", "HK": "HKD",
                 "SG": "SGD", "S": "SGD", "MX": "MXN"}
# Currencies written in words beside an amount, in any case (`12.50 eur`, `chf 3`, `12 euros`): the ISO 4217 codes of
# the most traded currencies (BIS Triennial Survey, ~35) and a few currency names, each with the currencies it may
# name (as _SIGNS). Only these: a word that is not one (`12 apples`, `3 cup`: CUP is Cuba's peso, and a unit) stays a
# field issue, never an amount. Any other code of three upper-case letters is read too (`CHF 12.50`, `12,50 EUR`).
_CURRENCY_WORDS = {code.lower(): (code,) for code in (
    "USD", "EUR", "JPY", "GBP", "CNY", "AUD", "CAD", "CHF", "HKD", "SGD", "SEK", "KRW", "NOK", "NZD", "INR", "MXN",
    "TWD", "ZAR", "BRL", "DKK", "PLN", "THB", "ILS", "IDR", "CZK", "AED", "TRY", "HUF", "CLP", "SAR", "PHP", "MYR",
    "COP", "RUB", "RON")} | {name: codes for names, codes in (
        (("euro", "euros"), ("EUR",)), (("dollar", "dollars"), _SIGNS["$"]), (("franc", "francs"), ("CHF",)),
        (("pound", "pounds"), ("GBP",)), (("yen",), ("JPY",)), (("yuan",), ("CNY",)), (("zloty", "zlotys"), ("PLN",)),
        (("krona", "kronor"), ("SEK",)), (("krone", "kroner"), ("NOK", "DKK")), (("kr",), ("SEK", "NOK", "DKK")))
    for name in names}
# The local symbols of Europe's currencies that write a word, as CLDR gives them and their shops write them (case as
# written: `ft` is a foot): `99,90 zł`, `1 234 Kč`, `12 345 Ft`, `1.234,56 TL` were field issues, each order's amount
# lost, until the sixteenth session. `kr` is among the names above.
_LOCAL_SYMBOLS = {"zł": "PLN", "ZŁ": "PLN", "zl": "PLN", "Kč": "CZK", "KČ": "CZK", "Ft": "HUF", "TL": "TRY",
                  "lei": "RON", "Lei": "RON", "din": "RSD", "дин": "RSD", "ден": "MKD",
                  # and beyond (seventeenth session): Russian, Ukrainian and Bulgarian tills' `1 200 руб.`, `350 р.`,
                  # `1 500,00 грн`, `99,90 лв`; Chinese, Japanese and Korean amounts written with the character
                  # (`880元`, `1200円`, `5000원`) and China's `RMB`; Israel's `NIS`. Each was a field issue, the order's
                  # amount lost.
                  "руб": "RUB", "Руб": "RUB", "РУБ": "RUB", "р": "RUB", "грн": "UAH", "Грн": "UAH", "ГРН": "UAH",
                  "лв": "BGN", "Лв": "BGN", "ЛВ": "BGN", "元": "CNY", "円": "JPY", "원": "KRW", "RMB": "CNY",
                  "NIS": "ILS"}
# Signs written with a mark inside, read as their codes before the amount: the dirham's and the riyal's Arabic
# abbreviations (`١٢٣٫٤٥ د.إ`), the shekel's Hebrew one (`250 ש״ח`).
_MARKED_SIGNS = {"د.إ": "AED", "ر.س": "SAR", "ש״ח": "ILS", 'ש"ח': "ILS"}
# A word before or after the amount (the spaces are dropped by then), its abbreviation's dot with it (Danish `kr.`):
# a currency when _currency_of says so.
_CURRENCY_CODE = re.compile(r"^[^\W\d_]{1,7}\.?(?=[-+(\d.,])|(?<=[\d.,)-])[^\W\d_]{1,7}\.?$")
# A price in whole units, its decimals a dash (`299,-`, `12.–`: Nordic, German, Swiss and Czech price tags and tills):
# read as `299,00`. It was a refund of 299 (accounting's minus after the number, _signed), taken off the revenue.
_WHOLE_UNITS = re.compile(r"(?<=\d)([.,])[-–—]{1,2}(?=[^\W\d_]*$)")


def _currency_of(word: str, declared: str | None) -> str | None:
    """The ISO code a currency's code, name or sign writes (see _CURRENCY_WORDS, _SIGNS), None for any other word."""
    codes = (_LOCAL_SYMBOLS[word],) if word in _LOCAL_SYMBOLS else (word,) if len(word) == 3 and word.isupper() \
        else _SIGNS.get(word) or _CURRENCY_WORDS.get(word.lower())
    if not codes:
        return None
    return declared if declared in codes else codes[0]


_NUMBER = re.compile(r"[+-]?(?:\d[\d.,]*|[.,]\d+)(?:[eE][+-]?\d+)?")
_GROUPED = {mark: re.compile(rf"[+-]?\d{{1,3}}(?:\{mark}\d{{3}})+") for mark in ".,"}  # 1.234.567, 12,345


def _decimal_point(text: str, declared: str) -> str | None:
    """The decimal mark of a number's text ('' when it has none), None when its marks do not make a number. The
    declared mark decides only what is ambiguous ('1.234' is 1234 under ',' and 1.234 under '.')."""
    marks = [m for m in ".," if m in text]
    if len(marks) == 2:  # both: the last one is the decimal mark, the other groups thousands
        point = "." if text.rindex(".") > text.rindex(",") else ","
        thousands = "," if point == "." else "."
        grouped = _GROUPED[thousands].fullmatch(text[: text.rindex(point)])
        return point if text.count(point) == 1 and grouped else None
    if not marks:
        return ""
    mark = marks[0]
    if text.count(mark) > 1 or (mark != declared and _GROUPED[mark].fullmatch(text)):  # thousands only
        return "" if _GROUPED[mark].fullmatch(text) else None
    return mark  # one mark, the declared decimal one or one that cannot group thousands ('12,50' under '.')


def parse_decimal(value: object, decimal: str = ".") -> tuple[float | None, str | None]:
    """'1 234,50' with decimal=',' -> 1234.5. Thousands separators (space, nbsp, apostrophe) dropped.

    A mark groups thousands only between groups of three digits: '12,50' under '.' and '12.5' under ',' (a JSON
    number in a source declaring ',') are decimals, '1.234,56' is 1234.56 under either; each was read with the mark
    dropped (1250, 125, 123456: a price a hundred times too high, a quantity of 15, a rating of 45), silently. A
    currency's sign or ISO code around the amount (`CHF 12.50`) and accounting's negatives (`(12,00)`, `12,00-`)
    are read: each was a field issue, the amount left out of the customer's revenue. parse_money also says which
    currency the value wrote."""
    number, _, why = parse_money(value, decimal)
    return number, why


def parse_money(value: object, decimal: str = ".", declared: str | None = None) -> tuple[float | None, str | None,
                                                                                           str | None]:
    """(amount, the ISO 4217 code of the currency its sign, code or name writes (None when it writes none), the reason
    it is unreadable). `declared`: the source's currency (sources file), which decides what an ambiguous sign means
    (`$12` is CAD where CAD is declared). Until 2026-11-29 the currency was dropped, and `CHF 12.50` added up with
    euros. A value writing two currencies (`€12 USD`) is a field issue: which one it is in is unknowable."""
    if missing(value):
        return None, None, None
    text = ascii_digits(str(value))  # '١٢٣٫٤٥' is 123.45, '１２００' 1200
    for marked, code in _MARKED_SIGNS.items():
        text = text.replace(marked, f" {code} ") if marked in text else text
    found = {_DOLLAR_CODES[m] for m in _DOLLARS.findall(text)}
    text = _DOLLARS.sub("", text)
    found |= {_currency_of(sign, declared) for sign in _SIGNS if sign in text}
    text = _WHOLE_UNITS.sub(r"\g<1>00", _NUMBER_MARKS.sub("", text))
    number = _number(text, decimal)
    if number is None:  # a currency's code or an accounting sign around it, read only where the plain number is not
        def word(match: re.Match) -> str:
            code = _currency_of(match[0].rstrip("."), declared)
            if code:
                found.add(code)
            return "" if code else match[0]
        text, sign = _signed(_CURRENCY_CODE.sub(word, text))
        unsigned = _number(_CURRENCY_CODE.sub(word, text), decimal) if sign else None  # `(CHF 3.20)`: inside
        number = None if unsigned is None else sign * unsigned
    if number is None:
        return None, None, f"'{value}' is not a number (decimal mark '{decimal}')"
    if not abs(number) < AMOUNT_LIMIT:  # inf and NaN too (`1e999`, a JSON's NaN)
        return None, None, f"'{value}' {_OUT_OF_RANGE}"
    if unknown := sorted(c for c in found if not is_currency(c)):
        return None, None, f"'{value}': {unknown[0]} is no ISO 4217 currency code"
    if len(found) > 1:
        return None, None, f"'{value}' writes two currencies ({', '.join(sorted(found))})"
    return number, next(iter(found), None), None


def currency_named(text: object, declared: str | None = None) -> tuple[str | None, str | None]:
    """(the ISO 4217 code a currency column's cell names, the reason it names none): a code in any case (`gbp`), a
    sign (`£`, `US$`) or a name (`euros`), as parse_money reads them beside an amount. None, None for an empty cell."""
    if missing(text):
        return None, None
    word = str(text).strip()
    if dollar := _DOLLARS.fullmatch(word):
        return _DOLLAR_CODES[dollar[1]], None
    code = _currency_of(word.upper() if len(word) == 3 and word.isalpha() else word, declared)
    if code is None or not is_currency(code):
        return None, f"'{text}' is no currency (an ISO 4217 code, sign or name)"
    return code, None


def parse_priced(value: object, currency: object, decimal: str = ".",
                 declared: str | None = None) -> tuple[float | None, str | None, str | None]:
    """parse_money for an amount beside a currency column's cell (`activity.currency`, a Shopify-like export's
    `Currency`): the cell is the amount's currency and decides an ambiguous sign; an empty cell leaves the amount to
    parse_money and the source's currency. An unreadable cell, or an amount writing another currency (`€12` beside
    `USD`), is the amount's field issue: the amount is in no currency that can be told."""
    code, why = currency_named(currency, declared)
    if why:
        return (None, None, None) if missing(value) else (None, None, f"{why}: its amount left out")
    number, written, why = parse_money(value, decimal, code or declared)
    if why or code is None or number is None:
        return number, written, why
    if written and written != code:
        return None, None, f"'{value}' writes {written}, its currency column {code}"
    return number, code, None


# No amount of a till, a web shop or an ERP reaches 10^15: beyond it a value is a misread (a card number or phone in
# the amount column, `99999999999999999999999999999`), and summed as DECIMAL(38, 9) (sql.exact_sum: at most 10^29) one
# such value stopped the day's golden and review steps (DuckDB's conversion error) until 2026-11-29. A field issue now,
# as any unreadable number; a million amounts at the limit still sum within the decimal.
AMOUNT_LIMIT = 10.0**15
_OUT_OF_RANGE = "is out of range for an amount"


# The range of the INTEGER columns counts are staged in (staging.activities quantity and rating).
COUNT_LIMIT = 2**31


def parse_count(value: object, decimal: str = ".") -> tuple[float | None, str | None]:
    """A quantity or rating as parse_decimal reads it, or none when, rounded, it is beyond an INTEGER: one till line
    of `99999999999999999999999` articles stopped the whole staging step (DuckDB's conversion error) until 2026-11-29;
    it is now a field issue, as any unreadable number."""
    number, why = parse_decimal(value, decimal)
    if number is not None and abs(round(number)) >= COUNT_LIMIT or why and why.endswith(_OUT_OF_RANGE):
        return None, f"'{value}' is out of range for a count"
    return number, why


def _signed(text: str) -> tuple[str, int]:
    """(the number's text, its sign), with accounting's negatives read: `(12,00)` (statements), `12,00-` (SAP and
    other ERP exports put the minus after); sign 0 when both say it."""
    sign = 1
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        text, sign = text[1:-1], (0 if text[1] in "+-" else -1)
    if len(text) > 1 and text[-1] == "-" and text[0] not in "+-":
        text, sign = text[:-1], (0 if sign < 0 else -1)
    return text, sign


def _number(text: str, decimal: str) -> float | None:
    """The number a text of digits, marks and a leading sign writes under the `decimal` mark, None when none."""
    if ("," if decimal == "." else ".") not in text and "_" not in text:  # nearly every value: only its own mark
        try:
            if math.isfinite(number := float(text.replace(decimal, "."))):
                return number
        except ValueError:
            pass  # '1.234.567' under '.', or no number at all: the marks' reading below says which
    point = _decimal_point(text, decimal) if _NUMBER.fullmatch(text) else None
    if point is not None:
        digits = text.replace(",", "").replace(".", "") if not point else \
            text.replace("," if point == "." else ".", "").replace(point, ".")
        if math.isfinite(number := float(digits)):
            return number
    return None


def _strptime(texts: np.ndarray, formats: tuple[str, ...]) -> np.ndarray:
    """DuckDB's reading of each text under the declared formats (strptime_sql), NaT where none or two disagree."""
    distinct = pd.DataFrame({"i": np.arange(len(texts)), "v": texts})
    with scratch() as con:
        con.register("_values", distinct)
        stamps = con.execute(f"SELECT {strptime_sql('v', formats)} AS t FROM _values ORDER BY i",
                             format_params(formats)).df()["t"].to_numpy(dtype="datetime64[us]")
        con.unregister("_values")
    return stamps


def parse_datetimes(values: pd.Series, formats: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """parse_datetime over a column of stripped text (None when missing): DuckDB's strptime parses the values
    matching a declared format in bulk (timestamps are nearly all distinct, so per-value Python is slow);
    whatever it cannot parse goes through parse_datetime, for the ISO fallback and the reason.
    Returns (timestamps, reasons). Each distinct value is parsed once and its result spread to the rows by
    integer codes, DuckDB's timestamps kept as a datetime column (as Python datetimes in a dict mapped over a
    million rows they cost ~5 CPU s)."""
    codes, uniques = pd.factorize(values)
    stamps = _strptime(np.asarray(uniques, dtype=object), formats) if len(uniques) else \
        np.empty(0, dtype="datetime64[us]")  # a column without a value (most sources' closing dates): no query
    reasons = np.full(len(uniques) + 1, None, dtype=object)  # the last one: a missing value (code -1)
    for i in np.flatnonzero(np.isnat(stamps)):
        stamp, reasons[i] = parse_datetime(uniques[i], formats)
        stamps[i] = np.datetime64("NaT") if stamp is None else np.datetime64(stamp, "us")
    stamps = np.append(stamps, np.datetime64("NaT", "us"))
    return (pd.Series(stamps[codes], index=values.index), pd.Series(reasons[codes], index=values.index, dtype=object))
