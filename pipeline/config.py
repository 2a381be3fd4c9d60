"""The sources file (YAML) and the run settings: what to read, from where, into which warehouse."""

from __future__ import annotations

import codecs
import functools
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, get_args

import pycountry
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "seeds"
BUNDLED_SOURCES = SEEDS_DIR / "sources.yaml"

PERSON_FIELDS = (
    "first_name", "last_name", "birth_date", "email", "phone",
    "street", "postcode", "city", "state", "country", "civility",
    "full_name",  # read only: staging splits it into first_name, last_name (and civility: 'M. Jean DUPONT')
)
# How a full name orders its words when nothing else tells (`person.full_name: {column: , order: }`).
NAME_ORDERS = ("given_first", "family_first")
ACTIVITY_FIELDS = (
    "occurred_at", "closed_at", "amount", "quantity", "rating", "status", "category",
    "store_id", "device_id", "consent_channel", "consent_action", "collection_point",
    "currency",  # a column naming each row's currency (`GBP`, `£`): its amount's, before the source's `currency:`
)
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
# Where a source's customers buy: its `channel:` in the sources file.
SALES_CHANNELS = ("online", "offline")
# How a customer may be contacted, each with its own consent (staging maps the sources' spellings onto these).
CONSENT_CHANNELS = ("email", "sms", "phone", "post")
SOURCE_KEYS = {
    "name", "description", "channel", "format", "files", "encoding", "delimiter", "decimal",
    "country", "trust_rank", "record_id", "updated_at", "date_formats", "person", "activity",
    "person_ref", "purpose", "identifiers", "deleted", "delivery", "sheet", "more_contacts", "currency",
    "missing_values", "consent",
}
# A consent flag column's spec (`consent: {email: {column: HasOptedOutOfEmail, true_means: opt_out}}`): what its ticked
# box says. A plain column is read as a consent action (`yes` opt_in, `no` opt_out, `Unsubscribed`, ...).
CONSENT_ACTION_NAMES = ("opt_in", "opt_out")
# What exporting software writes in a cell that holds no value: SQL's NULL (`null` in lower case), MySQL's and
# PostgreSQL's COPY `\N`, Python's None, pandas' and numpy's NaN, a spreadsheet's #N/A, N/A. Read as an empty cell
# (a first name 'NULL' was published as 'Null', and 'None' as 'None'). Compared whole, after trimming, case and all:
# a name typed 'Null' or 'Nan' is a name. A source's `missing_values:` replaces the list (`[]`: none).
MISSING_VALUES = ("NULL", "null", "\\N", "None", "NaN", "#N/A", "N/A", "n/a")
# The person fields a record may hold more than one value of (`more_contacts`: a CRM's email_pro beside email_perso,
# tel_fixe and tel_bureau beside the mobile): each further value is a contact point of the record (staging.person_contacts).
CONTACT_KINDS = ("email", "phone")
# delta: each drop adds or updates records (a record stays until a newer version replaces it); full: each drop day's
# files hold every live record of the source, so a record the newest day omits was deleted there (staging retires it).
DELIVERIES = ("delta", "full")
# date_formats may list these beside strptime formats: whole seconds or milliseconds since 1970-01-01 UTC, as JSON APIs
# write dates (`"updated": 1732541234000`); per second of one.
EPOCH_UNITS = {"epoch": 1, "epoch_ms": 1000}
# ... and this: a spreadsheet's serial day number (Excel's 1900 date system, `45234` = 2023-11-02, a fraction the time of
# day), as a CSV exported from a spreadsheet carries a date column formatted as a number.
SERIAL_DAYS = "excel"
# A composite birth date is assembled from these parts, in this order.
DATE_PARTS = ("year", "month", "day")
# customer: records of people (linked into customers); erasure: identifiers of people to forget (GDPR art. 17).
PURPOSES = ("customer", "erasure")
# Where the identity work (u and EM training, blocking, predict) runs: DuckDB in-process, or Spark.
Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)


_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# An identifier name becomes the column id_<name> and a JSON key (pipeline/identity/features.py).
_IDENTIFIER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# One element of a JSON array of objects: `contacts[kind=email].value` (the first element whose `kind` is `email`, any
# case) or `phones[0]` / `phones[0].number` (by position, from 0).
SELECTOR = re.compile(r"(?P<array>[^\[\]=]+)\[(?:(?P<index>\d+)|(?P<key>[^\[\]=.]+)=(?P<value>[^\[\]]*))\]"
                      r"(?:\.(?P<field>[^\[\]]+))?")


class SourcesFileError(ValueError):
    """The sources file is malformed; the message names the source and the key."""


@dataclass(frozen=True)
class PersonRef:
    source: str
    column: str


@dataclass(frozen=True)
class Deleted:
    """How a source marks a record deleted in its exports (a tombstone row): `column` holding one of `values` (any
    case, trimmed), or, without values, any non-empty value (a `deleted_at` date)."""
    column: str
    values: tuple[str, ...] = ()

    def marks(self, value: object) -> bool:
        """Whether a value of the column marks its row a tombstone (None: the row holds none)."""
        text = "" if value is None or value != value else str(value).strip()  # value != value: a NaN
        return bool(text) and (not self.values or text.lower() in self.values)


@dataclass(frozen=True)
class ConsentColumn:
    """A column of a person record stating its consent for one channel. Without `true_means`, each value is a consent
    action (`yes` / `no`, `true` / `false`, `subscribed`, `unsubscribed`, ...). With it, the column is a flag whose
    ticked box (`true`, `1`, `yes`, `Y`) means that action and whose unticked box says nothing: Salesforce's
    `HasOptedOutOfEmail` and `DoNotCall`, HubSpot's `Unsubscribed from all email` (true means NO consent; false is
    no consent given either)."""
    column: str
    true_means: str | None = None


@dataclass(frozen=True)
class Source:
    name: str
    channel: str
    format: str
    files: str
    record_id: str
    description: str = ""
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    country: str = "FR"
    trust_rank: int = 99
    updated_at: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    # canonical field -> a column, or a tuple of columns (a composite: joined by a space; for birth_date the
    # (year, month, day) columns)
    person: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    # strong identifier name (shared across sources that carry it) -> column or composite
    identifiers: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    activity_type: str | None = None
    activity: dict[str, str] = field(default_factory=dict)
    person_ref: PersonRef | None = None
    purpose: str = "customer"
    # Out of the repr, which fingerprints a source's staging (staging_changes.fingerprint adds it when set): a
    # source without it keeps its fingerprint, so the key's coming restages no warehouse.
    deleted: Deleted | None = field(default=None, repr=False)
    delivery: str = field(default="delta", repr=False)
    name_order: str = field(default="given_first", repr=False)
    # xlsx: the sheet(s) read, by name or position from 0, a tuple of them, or "*" (every visible one; None: the first
    # visible sheet); out of the repr as `deleted`.
    sheet: str | int | tuple | None = field(default=None, repr=False)
    # kind (CONTACT_KINDS) -> the columns holding further values of it, one value each (staging_changes.fingerprint
    # adds it when set, as `deleted`: a source without it keeps its fingerprint).
    more_contacts: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    # The ISO 4217 currency of its amounts that write none (`currency:`, or `amount: {column:, currency:}`); None:
    # the house currency (Settings.currency). In the repr: a source staged before currencies were kept is restaged.
    currency: str | None = None
    # the cells read as empty (MISSING_VALUES); out of the repr as `deleted` (staging_changes.fingerprint adds them)
    missing_values: tuple[str, ...] = field(default=MISSING_VALUES, repr=False)
    # activity field -> the value every row holds (`consent_channel: {value: email}`: a newsletter list has no
    # channel column); out of the repr as `deleted` (staging_changes.fingerprint adds them when set)
    activity_values: dict[str, str] = field(default_factory=dict, repr=False)
    # The record's own consent columns (`consent:`), channel -> ConsentColumn: a CRM's or a shop's contact export
    # holds one per channel (Shopify's `Accepts Email Marketing` and `Accepts SMS Marketing`); out of the repr as
    # `deleted` (staging_changes.fingerprint adds them when set).
    consent: dict[str, ConsentColumn] = field(default_factory=dict, repr=False)

    @property
    def is_erasure(self) -> bool:
        return self.purpose == "erasure"

    @property
    def deletes(self) -> bool:
        """Whether the source says a record was deleted (a tombstone, or a full export omitting it): only such a
        source's records are ever retired."""
        return self.deleted is not None or self.delivery == "full"

    @property
    def mapped_columns(self) -> list[str]:
        """Source columns the pipeline reads: a file lacking one of them cannot be staged."""
        cols = [self.record_id, *_flat(self.person.values()), *_flat(self.identifiers.values()),
                *_flat(self.more_contacts.values()), *self.activity.values(), *(c.column for c in self.consent.values())]
        if self.updated_at:
            cols.append(self.updated_at)
        if self.person_ref:
            cols.append(self.person_ref.column)
        if self.deleted:
            cols.append(self.deleted.column)
        return list(dict.fromkeys(cols))

    @property
    def person_columns(self) -> list[str]:
        """Source columns of the person fields, further contact points and identifiers."""
        return _flat([*self.person.values(), *self.more_contacts.values(), *self.identifiers.values()])

    @property
    def has_person(self) -> bool:
        return bool(self.person)


def _flat(specs) -> list[str]:
    return [c for spec in specs for c in ((spec,) if isinstance(spec, str) else spec)]


def _fail(where: str, message: str) -> None:
    raise SourcesFileError(f"sources file, {where}: {message}")


def _column_spec(where: str, key: str, spec, date: bool = False) -> str | tuple[str, ...]:
    """A column name; a list of columns joined into one field; for a date, {year:, month:, day:} columns."""
    if isinstance(spec, str) and spec:
        return spec
    if isinstance(spec, dict) and date:
        if set(spec) != set(DATE_PARTS) or not all(isinstance(spec[p], str) and spec[p] for p in DATE_PARTS):
            _fail(where, f"'{key}' from parts needs exactly the columns {list(DATE_PARTS)}, got {sorted(spec)}")
        return tuple(spec[p] for p in DATE_PARTS)
    if isinstance(spec, list) and len(spec) >= 2 and all(isinstance(c, str) and c for c in spec) and not date:
        return tuple(spec)
    expected = "a column name or {year: , month: , day: } columns" if date else \
        "a column name or a list of two or more columns"
    _fail(where, f"'{key}' must be {expected}, not {spec!r}")


# Currencies the euro replaced that pycountry (current ISO 4217 only) no longer lists, still written in the orders and
# ledgers of before: the Bulgarian lev (2026; a Bulgarian till's `99,90 лв` was `BGN is no ISO 4217 currency code`) and
# the Croatian kuna (2023). Their rates into the euro are fixed; exchange_rates.csv gives them as any other.
_WITHDRAWN_CURRENCIES = frozenset({"BGN", "HRK"})


def is_currency(code: str) -> bool:
    """Whether `code` (upper case) is an ISO 4217 currency, current or one the euro replaced (_WITHDRAWN_CURRENCIES)."""
    return code in _WITHDRAWN_CURRENCIES or pycountry.currencies.get(alpha_3=code) is not None


def currency_code(where: str, code) -> str:
    """An ISO 4217 code, upper case (`gbp` is GBP); SourcesFileError otherwise."""
    text = str(code).strip().upper()
    if not is_currency(text):
        raise SourcesFileError(f"{where}: {code!r} is no ISO 4217 currency code (EUR, GBP, USD, CHF, ...)")
    return text


def _country(where: str, raw) -> str:
    """The source's country (`country:`, or `defaults:`'s) as the ISO 3166 code phones and postcodes are read in,
    read as a record's country is ('UK', 'Ireland', 'USA', 'gb'); SourcesFileError when it names no country.
    `country: UK` (what British systems write; ISO's code is GB) was taken as it was: every phone of the source a
    field issue ('Missing or invalid default region'), every postcode unread, and the run blocked by its share of
    valid phones, a check that does not name the key at fault."""
    from pipeline.normalise.address import country_code  # it reads the seeds' spellings, which import this module

    code = country_code(raw) if isinstance(raw, str) else None
    if code is None:
        _fail(where, f"country {raw!r} names no country we know: give its ISO 3166 code (GB, IE, US, FR, ...) or "
                     "its name")
    return code


def _delimiter(where: str, raw) -> str:
    """One character; a tab also as YAML's single-quoted or plain `\\t` or as `tab` (a CSV read by a delimiter of
    two characters, a quote or a line break split nothing right: every record a wrong field count, or a crash)."""
    text = {"\\t": "\t", "tab": "\t"}.get(str(raw).lower(), str(raw))
    if len(text) != 1 or text in "\"\r\n" or text.isalnum():
        _fail(where, f"delimiter must be one character such as ',', ';', '|' or a tab (\"\\t\"), not {raw!r}")
    return text


def _encoding(where: str, raw) -> str:
    """An encoding Python knows (`latin-9x` refused every file of the source as 'unreadable csv file')."""
    try:
        codecs.lookup(str(raw))
    except LookupError:
        _fail(where, f"encoding {raw!r} is unknown (utf-8, cp1252, latin-1, utf-16, ...)")
    return str(raw)


def _identifiers(where: str, raw) -> dict[str, str | tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        _fail(where, "identifiers must map an identifier name to a column, e.g. {loyalty_number: card_no}")
    for name in raw:
        if not (isinstance(name, str) and _IDENTIFIER_NAME.match(name)):
            _fail(where, f"identifiers: name {name!r} must be lowercase ASCII letters, digits and _, starting with a "
                         "letter")
    return {name: _column_spec(where, f"identifiers.{name}", spec) for name, spec in raw.items()}


def _person_map(where: str, key: str, raw, keys: tuple[str, ...], maps: str, example: str, person: dict, purpose: str,
                what: str) -> None:
    """The checks `more_contacts` and `consent` share: a non-empty mapping of `keys` (`maps`: what to what), on a
    customer source with a person mapping (`what`: why it needs one)."""
    if not isinstance(raw, dict) or not raw or set(raw) - set(keys):
        _fail(where, f"{key} maps {maps}, e.g. {example}")
    if not person or purpose != "customer":
        _fail(where, f"{key} needs a 'person' mapping ({what}) and no erasure purpose")


def _more_contacts(where: str, raw, person: dict, purpose: str) -> dict[str, tuple[str, ...]]:
    """The `more_contacts` key: {email: [email_pro], phone: [tel_fixe, tel_bureau]}, each column one further value
    (a list under `person.email` is one value, its columns joined by a space)."""
    if raw is None:
        return {}
    example = "{email: [email_pro], phone: [tel_fixe, tel_bureau]}"
    _person_map(where, "more_contacts", raw, CONTACT_KINDS, f"{list(CONTACT_KINDS)} to the columns holding further "
                "values", example, person, purpose, "they are a person record's contact points")
    out = {}
    for kind, spec in raw.items():
        columns = [spec] if isinstance(spec, str) else spec
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c.strip() for c in columns):
            _fail(where, f"'more_contacts.{kind}' must be a column or a list of columns, e.g. {example}")
        out[kind] = tuple(columns)
    return out


def _consent(where: str, raw, person: dict, purpose: str) -> dict[str, ConsentColumn]:
    """The `consent` key: {email: Accepts Email Marketing, phone: {column: DoNotCall, true_means: opt_out}}."""
    if raw is None:
        return {}
    example = "{email: Accepts Email Marketing, sms: Accepts SMS Marketing, phone: {column: DoNotCall, true_means: opt_out}}"
    _person_map(where, "consent", raw, CONSENT_CHANNELS, f"channels {list(CONSENT_CHANNELS)} to the record's consent "
                "columns", example, person, purpose, "it is a person record's consent")
    out = {}
    for channel, spec in raw.items():
        spec = {"column": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict) or set(spec) - {"column", "true_means"} \
                or not isinstance(spec.get("column"), str) or not spec["column"].strip() \
                or spec.get("true_means", "opt_in") not in CONSENT_ACTION_NAMES:
            _fail(where, f"'consent.{channel}' must be a column or {{column: , true_means: one of "
                         f"{list(CONSENT_ACTION_NAMES)}}}, not {spec!r} (e.g. {example})")
        out[channel] = ConsentColumn(spec["column"], spec.get("true_means"))
    return out


def _one_field_per_column(where: str, specs: dict[str, str | tuple[str, ...]]) -> None:
    """A column read as two person fields or identifiers (`phone: email`) is a slip of the sources file: every row
    would hold an e-mail that is a garbage phone, and the real column is never read. Compared case-insensitively, as
    DuckDB names columns. (A date read as both updated_at and an activity's occurred_at is fine: not person fields.)"""
    seen: dict[str, str] = {}
    for key, spec in specs.items():
        for column in dict.fromkeys(c.lower() for c in _flat([spec])):
            if column in seen:
                _fail(where, f"'{seen[column]}' and '{key}' both read column {column!r}: map each field to its own "
                             "column")
            seen[column] = key


_SAMPLE_TIME = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


def _date_formats(where: str, formats) -> list[str]:
    """strptime formats. One without a directive (`dd.MM.yyyy`, a spreadsheet's or Java's spelling) or with one
    strptime does not know (`%e`) read no date at all: every date of the source became a field issue."""
    formats = [formats] if isinstance(formats, str) else formats
    if not isinstance(formats, list) or not all(isinstance(f, str) and f for f in formats):
        _fail(where, f"date_formats must be a list of strptime formats such as ['%d/%m/%Y'], not {formats!r}")
    for fmt in (f for f in formats if f not in EPOCH_UNITS and f != SERIAL_DAYS):
        try:
            datetime.strptime(_SAMPLE_TIME.strftime(fmt), fmt)
            valid = "%" in fmt
        except ValueError:
            valid = False
        if not valid:
            _fail(where, f"date_formats: {fmt!r} is not a strptime format (write day, month and year as %d, %m, %Y: "
                         f"'%d.%m.%Y' for 03.02.2001; or one of {sorted(EPOCH_UNITS)} for seconds or milliseconds "
                         f"since 1970, or {SERIAL_DAYS!r} for a spreadsheet's serial day numbers)")
    return formats


def _name_order(where: str, person: dict) -> str:
    """The order of a `full_name`'s words, its spec replaced by its column(s) in `person` (in place): `full_name: col`
    or `full_name: {column: col, order: family_first}`. A full name is instead of first and last names, not beside."""
    spec = person.get("full_name")
    if spec is None:
        return "given_first"
    if {"first_name", "last_name"} & set(person):
        _fail(where, "'person.full_name' is split into first and last names: map it instead of 'first_name' and "
                     "'last_name', not beside them")
    if isinstance(spec, dict):
        if set(spec) - {"column", "order"} or "column" not in spec or spec.get("order", "given_first") not in NAME_ORDERS:
            _fail(where, f"'person.full_name' must be a column, a list of columns or {{column: , order: one of "
                         f"{NAME_ORDERS}}}, not {spec!r}")
        person["full_name"] = spec["column"]
        return spec.get("order", "given_first")
    return "given_first"


def _deleted(where: str, spec, person: dict, purpose: str) -> Deleted | None:
    """The `deleted` key: {column: status, values: [deleted, closed]} or {column: deleted_at} (non-empty = deleted)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"column", "values"} or not isinstance(spec.get("column"), str) \
            or not spec["column"].strip():
        _fail(where, "'deleted' needs a 'column' and, optionally, 'values' (a list): "
                     "{column: status, values: [deleted, closed]} or {column: deleted_at}")
    values = spec.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str | int) and str(v).strip() for v in values):
        _fail(where, "'deleted.values' must be a list of non-empty values (omit it: any non-empty value is a deletion)")
    if not person or purpose != "customer":
        _fail(where, "'deleted' needs a 'person' mapping (it retires person records) and no erasure purpose")
    if spec["column"] in _flat(person.values()):
        _fail(where, f"'deleted.column' {spec['column']!r} is a person field's column")
    return Deleted(spec["column"].strip(), tuple(str(v).strip().lower() for v in values))


def _sheet(where: str, spec, format: str) -> str | int | tuple | None:
    """The `sheet` key of an xlsx source: a sheet's name, or its position from 0 (hidden sheets counted, as in the
    workbook), a list of them, or "*" (every visible worksheet); none: the first visible sheet."""
    if spec is None:
        return None
    if format != "xlsx":
        _fail(where, f"'sheet' names a sheet of a workbook: only an xlsx source has one, not a {format} source")
    specs = spec if isinstance(spec, list) else [spec]
    if not specs or any(isinstance(s, bool) or not (isinstance(s, int) and s >= 0 or isinstance(s, str) and s.strip())
                        for s in specs):
        _fail(where, "sheet must be a sheet's name, its position from 0, a list of them, or \"*\" for every visible "
                     f"sheet, not {spec!r}")
    return tuple(specs) if isinstance(spec, list) else spec


# Activity fields a source may give one value for every row of (`{value: ...}`), rather than a column.
FIXED_ACTIVITY_FIELDS = ("status", "category", "store_id", "device_id", "collection_point", "consent_channel",
                         "consent_action")


def _activity_values(where: str, activity: dict) -> dict[str, str]:
    """The activity fields given as `{value: text}`: the same value on every row (a newsletter list's channel)."""
    fixed = {}
    for key, spec in activity.items():
        if not isinstance(spec, dict):
            continue
        if key not in FIXED_ACTIVITY_FIELDS or set(spec) != {"value"} or not str(spec["value"] or "").strip():
            _fail(where, f"'activity.{key}' must be a column name" + (
                " or {value: <text every row holds>}" if key in FIXED_ACTIVITY_FIELDS else "") + f", not {spec!r}")
        fixed[key] = str(spec["value"]).strip()
    return fixed


def _missing_values(where: str, spec) -> tuple[str, ...]:
    """The `missing_values` key: a list of the texts a cell holds for no value (`[]`: none); none given: MISSING_VALUES."""
    if spec is None:
        return MISSING_VALUES
    if not isinstance(spec, list) or not all(isinstance(v, str) and v.strip() == v and v for v in spec):
        _fail(where, "missing_values must be a list of the texts a cell holds for 'no value' (quoted, without spaces "
                     f"around them), such as ['NULL', '-'], or [] for none; not {spec!r}")
    return tuple(spec)


def _parse_source(raw: dict, defaults: dict, index: int) -> Source:
    if not isinstance(raw, dict):
        _fail(f"entry #{index}", "each source must be a mapping")
    name = raw.get("name") or _fail(f"entry #{index}", "missing 'name'")
    where = f"source '{name}'"
    if not _NAME.match(str(name)):  # it names DuckDB tables: case-insensitive, and `<name>__files` is taken
        _fail(where, "name must be a lowercase identifier (letters, digits, single _)")
    unknown = set(raw) - SOURCE_KEYS
    if unknown:
        _fail(where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(SOURCE_KEYS)}")
    merged = {**defaults, **raw}
    for key in ("channel", "format", "files", "record_id"):
        if not merged.get(key):
            _fail(where, f"missing '{key}'")
    if merged["channel"] not in SALES_CHANNELS:
        _fail(where, f"channel must be one of {SALES_CHANNELS}, not {merged['channel']!r}")
    files = str(merged["files"])
    if Path(files).is_absolute() or ".." in Path(files).parts or files.startswith("~"):
        _fail(where, f"files must be a glob inside the raw directory (no absolute path, no '..'), not {files!r}")
    if merged["format"] not in FORMATS:
        _fail(where, f"format must be one of {FORMATS}, not {merged['format']!r}")
    person = dict(raw.get("person") or {})
    bad = set(person) - set(PERSON_FIELDS)
    if bad:
        _fail(where, f"unknown person field(s) {sorted(bad)}; canonical fields: {PERSON_FIELDS}")
    name_order = _name_order(where, person)
    person = {f: _column_spec(where, f"person.{f}", spec, date=f == "birth_date")
              for f, spec in person.items()}
    identifiers = _identifiers(where, raw.get("identifiers"))
    if identifiers and not person:
        _fail(where, "identifiers need a 'person' mapping: they identify person records")
    more_contacts = _more_contacts(where, raw.get("more_contacts"), person, raw.get("purpose", "customer"))
    consent = _consent(where, raw.get("consent"), person, raw.get("purpose", "customer"))
    _one_field_per_column(where, {**{f"person.{f}": c for f, c in person.items()},
                                  **{f"more_contacts.{k}[{i}]": c for k, cs in more_contacts.items()
                                     for i, c in enumerate(cs)},
                                  **{f"identifiers.{n}": c for n, c in identifiers.items()}})
    activity = dict(raw.get("activity") or {})
    activity_type = activity.pop("type", None)
    currency = merged.get("currency")
    if isinstance(activity.get("amount"), dict):  # a column-level currency: `amount: {column: total, currency: GBP}`
        spec = activity["amount"]
        if set(spec) - {"column", "currency"} or not isinstance(spec.get("column"), str) or not spec["column"]:
            _fail(where, f"'activity.amount' must be a column name or {{column: , currency: }}, not {spec!r}")
        activity["amount"], currency = spec["column"], spec.get("currency", currency)
    currency = currency_code(f"{where}, currency", currency) if currency is not None else None
    bad = set(activity) - set(ACTIVITY_FIELDS)
    if bad:
        _fail(where, f"unknown activity field(s) {sorted(bad)}; canonical fields: {ACTIVITY_FIELDS}")
    activity_values = _activity_values(where, activity)
    activity = {f: c for f, c in activity.items() if f not in activity_values}
    if activity and not activity_type:
        _fail(where, "activity needs a 'type' (order, store_purchase, consent, ticket, ...)")
    if not person and not activity:
        _fail(where, "declare a 'person' mapping, an 'activity' mapping, or both")
    purpose = raw.get("purpose", "customer")
    if purpose not in PURPOSES:
        _fail(where, f"purpose must be one of {PURPOSES}, not {purpose!r}")
    if purpose == "erasure" and not ({"email", "phone"} & set(person)):
        _fail(where, "an erasure source needs an e-mail or phone column in its person mapping")
    ref = raw.get("person_ref")
    person_ref = None
    if ref:
        if not isinstance(ref, dict) or not ref.get("source") or not ref.get("column"):
            _fail(where, "person_ref needs 'source' and 'column'")
        person_ref = PersonRef(ref["source"], ref["column"])
    deleted = _deleted(where, raw.get("deleted"), person, purpose)
    delivery = merged.get("delivery", "delta")
    if delivery not in DELIVERIES:
        _fail(where, f"delivery must be one of {DELIVERIES} (full: each drop day holds every live record), "
                     f"not {delivery!r}")
    if delivery == "full" and purpose == "erasure":
        _fail(where, "an erasure source cannot be a full delivery: a request its next export omits is still made")
    formats = _date_formats(where, merged.get("date_formats") or ["%Y-%m-%d"])
    delimiter, encoding, decimal = _delimiter(where, merged.get("delimiter", ",")), \
        _encoding(where, merged.get("encoding", "utf-8")), str(merged.get("decimal", "."))
    if decimal not in (".", ","):
        _fail(where, f"decimal must be '.' or ',', not {decimal!r}")
    source = Source(
        name=name, channel=merged["channel"], format=merged["format"], files=merged["files"],
        record_id=merged["record_id"], description=merged.get("description", ""),
        encoding=encoding, delimiter=delimiter, decimal=decimal, country=_country(where, merged.get("country", "FR")),
        trust_rank=int(merged.get("trust_rank", 99)), updated_at=merged.get("updated_at"),
        date_formats=tuple(formats), person=person, activity_type=activity_type,
        activity=activity, person_ref=person_ref, purpose=purpose, identifiers=identifiers,
        deleted=deleted, delivery=delivery, name_order=name_order, more_contacts=more_contacts,
        sheet=_sheet(where, raw.get("sheet"), merged["format"]), currency=currency,
        missing_values=_missing_values(where, merged.get("missing_values")),
        activity_values=activity_values, consent=consent,
    )
    for column in source.mapped_columns:
        if ("[" in column or "]" in column) and not (SELECTOR.fullmatch(column) and source.format == "jsonl"):
            _fail(where, f"column {column!r}: an element of a JSON array is mapped as array[key=value].field or "
                         "array[N].field, in a jsonl source")
    return source


def load_sources(path: Path | str = BUNDLED_SOURCES) -> list[Source]:
    """Read and validate the sources file; errors name the source and key at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesFileError(f"cannot read sources file {path}: {exc}") from exc
    return list(_parse_sources(path, text))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key given twice in one mapping: PyYAML keeps the last silently, so a second
    `email:` under `person:` dropped the first mapping without a word."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):  # an unhashable key: the base class says so
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' given twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# A run reads the sources file four times (definitions, runner, purge, copies): the same text is parsed once per
# process (~0.1 s each with YAML and validation); a changed file is parsed again.
@functools.lru_cache(maxsize=8)
def _parse_sources(path: Path, text: str) -> tuple[Source, ...]:
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader) or {}  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SourcesFileError(f"cannot read sources file {path}: {exc}") from exc
    entries = doc.get("sources")
    if not isinstance(entries, list) or not entries:
        raise SourcesFileError(f"sources file {path}: needs a non-empty 'sources' list")
    sources = [_parse_source(raw, doc.get("defaults") or {}, i) for i, raw in enumerate(entries, 1)]
    names = [s.name.lower() for s in sources]  # DuckDB table names are case-insensitive
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SourcesFileError(f"sources file {path}: duplicate source name(s) {sorted(dupes)}")
    by_name = {s.name: s for s in sources}
    for s in sources:
        if s.person_ref and s.person_ref.source not in by_name:
            _fail(f"source '{s.name}'", f"person_ref names unknown source '{s.person_ref.source}'")
        if s.person_ref and not by_name[s.person_ref.source].has_person:
            _fail(f"source '{s.name}'", f"person_ref source '{s.person_ref.source}' has no person mapping")
    return tuple(sources)


def identifier_names(sources: list[Source]) -> list[str]:
    """Every identifier name the sources map, sorted: one canonical field each, shared across sources."""
    return sorted({name for s in sources if not s.is_erasure for name in s.identifiers})


@dataclass(frozen=True)
class LinkagePolicy:
    """Every threshold of the identity layer, in one object: clustering, the review queue and the blocking
    cluster check read the same values (a run that overrides one cannot cluster with one and review with another)."""

    threshold: float = 0.8           # pairs at or above this match probability are linked (unless vetoed)
    review_floor: float = 0.5        # pairs in [review_floor, threshold) go to the stewards' review queue
    max_cluster_size: int = 25       # no cluster grows past this; the blocking check fails above it
    review_cluster_size: int = 8     # clusters above this are flagged for review
    max_incremental_share: float = 0.2  # more changed records than this share: a full re-link instead

    def __post_init__(self) -> None:
        if not 0 <= self.review_floor <= self.threshold <= 1:
            raise ValueError(f"linkage policy: need 0 <= review_floor ({self.review_floor}) <= threshold "
                             f"({self.threshold}) <= 1")
        if not 1 <= self.review_cluster_size <= self.max_cluster_size:
            raise ValueError(f"linkage policy: need 1 <= review_cluster_size ({self.review_cluster_size}) <= "
                             f"max_cluster_size ({self.max_cluster_size})")
        if not 0 <= self.max_incremental_share <= 1:
            raise ValueError(f"linkage policy: max_incremental_share must be in [0, 1], not {self.max_incremental_share}")


def _parse_conf(text: str) -> dict[str, str]:
    pairs = [p for p in text.replace(",", " ").split() if p]
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise ValueError(f"C360_SPARK_CONF: expected key=value, got {bad}")
    return dict(p.split("=", 1) for p in pairs)


@dataclass(frozen=True)
class SparkConfig:
    """Where and how the Spark engine runs (pipeline/identity/spark_engine.py); C360_SPARK_* set it."""

    master: str = "local[2]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    checkpoint_dir: str = ""   # "" = <artefacts>/spark/checkpoints; a path or a URI (hdfs://...)
    exchange_dir: str = ""     # "" = <artefacts>/spark/exchange
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SparkConfig:
        env = os.environ.get
        return cls(master=env("C360_SPARK_MASTER", cls.master),
                   driver_memory=env("C360_SPARK_DRIVER_MEMORY", cls.driver_memory),
                   shuffle_partitions=int(env("C360_SPARK_SHUFFLE_PARTITIONS", cls.shuffle_partitions)),
                   checkpoint_dir=env("C360_SPARK_CHECKPOINT_DIR", ""),
                   exchange_dir=env("C360_SPARK_EXCHANGE_DIR", ""),
                   conf=_parse_conf(env("C360_SPARK_CONF", "")))

    def checkpoint_location(self, artefacts_dir: Path) -> str:
        """A URI Spark resolves the same way everywhere (a bare path would resolve against fs.defaultFS)."""
        if "://" in self.checkpoint_dir:
            return self.checkpoint_dir.rstrip("/")
        return (Path(self.checkpoint_dir) if self.checkpoint_dir else artefacts_dir / "spark" / "checkpoints"
                ).resolve().as_uri()

    def exchange_path(self, artefacts_dir: Path) -> Path:
        return Path(self.exchange_dir) if self.exchange_dir else artefacts_dir / "spark" / "exchange"

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")


def _day(name: str, text: str) -> date | None:
    """An optional YYYY-MM-DD setting, checked when the settings are built (not when SQL first reads it)."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, not {text!r}") from None


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, with one owner: this object. Environment variables set it (`from_env`, the CLI
    sets them); the Dagster assets receive it as the `settings` resource and library code as arguments."""

    raw_dir: Path
    warehouse: Path
    sources_file: Path
    truth_file: Path | None
    as_of: date | None = None   # reference date of rolling windows and retention; None = today
    retention_days: int = 1095  # customers inactive longer than this are left out of the marts
    first_day: str = ""        # first daily partition of the extracts; "" = the earliest drop day on disk
    repermission_days: int = 1095  # an opt-in this old with no interaction since needs re-permission (CNIL)
    decisions: Path | None = None  # folder of steward decision files; default <warehouse folder>/stewardship
    analyst_identifiers: bool = False  # true: the analysts' copy keeps names, e-mails, phones, addresses, births
    engine: Engine = "duckdb"  # identity engine, one of ENGINES
    refresh_cron: str = "0 2 * * *"  # when the daily_refresh schedule runs (Europe/Paris)
    max_shrink: float = 0.2    # share of published customers a run may lose before publication is blocked
    linkage: LinkagePolicy = field(default_factory=LinkagePolicy)
    spark: SparkConfig = field(default_factory=SparkConfig)
    pseudonym_secret: str = field(default="", repr=False)  # C360_PSEUDONYM_KEY; "" = the key file's
    # The house currency (C360_CURRENCY): that of amounts neither their value nor the sources file give one, and the
    # one every published total is in (amounts in others converted with the rates of `exchange_rates`).
    currency: str = "EUR"
    exchange_rates: Path | None = None  # C360_EXCHANGE_RATES; None = exchange_rates.csv beside the sources file
    # C360_ALERT_WEBHOOK: where a failed run's alert is posted (pipeline/alerts.py); "" = alerts.log only. A secret
    # (a Slack or Teams webhook's URL is its credential): never printed.
    alert_webhook: str = field(default="", repr=False)
    # The values a purge removed (erasure, retention, a source's deletion) leave the warehouse file's freed blocks at
    # the latest this many days after (pipeline/compaction.py; C360_COMPACTION_DAYS; 0: on their run): a rewrite costs
    # ~9 CPU s at 1M source records, and some purge happens nearly every night.
    compaction_days: int = 7

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r} (C360_ENGINE)")
        if self.compaction_days < 0:
            raise ValueError(f"compaction_days must be 0 or more, not {self.compaction_days} (C360_COMPACTION_DAYS)")
        if isinstance(self.as_of, str):  # a caller's "YYYY-MM-DD": validated here, once
            object.__setattr__(self, "as_of", _day("as_of (C360_AS_OF)", self.as_of))
        object.__setattr__(self, "currency", currency_code("currency (C360_CURRENCY)", self.currency))

    @property
    def reference_date(self) -> date:
        """The day anchoring rolling windows and retention: `as_of`, or today."""
        return self.as_of or date.today()

    @property
    def decisions_dir(self) -> Path:
        return self.decisions or self.warehouse.parent / "stewardship"

    @property
    def artefacts_dir(self) -> Path:
        return artefacts_dir(self.warehouse)

    @property
    def model_path(self) -> Path:
        """The saved Splink model of the last full re-link (conflict weights beside it)."""
        return self.artefacts_dir / "splink_model.json"

    @property
    def published(self) -> Path:
        """The analysts' read-only copy of the marts."""
        return self.warehouse.with_name("published.duckdb")

    @property
    def restricted(self) -> Path:
        """Customer service's copy of the marts with the full golden record (direct identifiers)."""
        return self.warehouse.with_name("restricted.duckdb")

    @property
    def pseudonym_key_file(self) -> Path:
        """Where the pseudonym secret is kept when C360_PSEUDONYM_KEY is not set (created once, owner-only)."""
        return self.warehouse.parent / "pseudonym.key"

    @property
    def quality_dir(self) -> Path:
        """Great Expectations project: results and Data Docs (static HTML)."""
        return self.warehouse.parent / "quality"

    def sources(self) -> list[Source]:
        return load_sources(self.sources_file)

    @property
    def rates_file(self) -> Path:
        """The operator's exchange rates (pipeline/currency.py reads it; absent: no rate)."""
        return self.exchange_rates or self.sources_file.parent / "exchange_rates.csv"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        truth = env("C360_TRUTH", str(PROJECT_ROOT / "data" / "truth.csv"))
        return cls(
            raw_dir=Path(env("C360_RAW_DIR", PROJECT_ROOT / "data" / "raw")),
            warehouse=Path(env("C360_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse.duckdb")),
            sources_file=Path(env("C360_SOURCES", BUNDLED_SOURCES)),
            truth_file=Path(truth) if truth else None,
            as_of=_day("C360_AS_OF", env("C360_AS_OF", "")),
            retention_days=int(env("C360_RETENTION_DAYS", 1095)),
            first_day=env("C360_FIRST_DAY", ""),
            repermission_days=int(env("C360_REPERMISSION_DAYS", 1095)),
            decisions=Path(env("C360_DECISIONS_DIR")) if env("C360_DECISIONS_DIR") else None,
            analyst_identifiers=env("C360_ANALYST_IDENTIFIERS", "").strip().lower() in ("1", "true", "yes"),
            engine=env("C360_ENGINE", "duckdb").strip().lower() or "duckdb",
            refresh_cron=env("C360_REFRESH_CRON", "").strip() or "0 2 * * *",
            max_shrink=float(env("C360_MAX_SHRINK", 0.2)),
            linkage=LinkagePolicy(
                threshold=float(env("C360_MATCH_THRESHOLD", LinkagePolicy.threshold)),
                review_floor=float(env("C360_REVIEW_FLOOR", LinkagePolicy.review_floor)),
                max_cluster_size=int(env("C360_MAX_CLUSTER_SIZE", LinkagePolicy.max_cluster_size)),
                review_cluster_size=int(env("C360_REVIEW_CLUSTER_SIZE", LinkagePolicy.review_cluster_size)),
                max_incremental_share=float(env("C360_MAX_INCREMENTAL_SHARE", LinkagePolicy.max_incremental_share))),
            spark=SparkConfig.from_env(),
            pseudonym_secret=env("C360_PSEUDONYM_KEY", ""),
            currency=env("C360_CURRENCY", "").strip() or "EUR",
            exchange_rates=Path(env("C360_EXCHANGE_RATES")) if env("C360_EXCHANGE_RATES") else None,
            alert_webhook=env("C360_ALERT_WEBHOOK", "").strip(),
            compaction_days=int(env("C360_COMPACTION_DAYS", 7)),
        )


def artefacts_dir(warehouse: Path) -> Path:
    """The model, its explanations and the folder's owner, beside the warehouse."""
    return warehouse.parent / "artefacts"


class FolderTaken(RuntimeError):
    """The warehouse's folder holds the files of another warehouse."""


def claim_folder(warehouse: Path) -> None:
    """Make the warehouse's folder its own, or refuse: the published and restricted copies, the model, the quality
    and stewardship files and the pseudonym key sit beside the warehouse under fixed names, so a second warehouse
    in the same folder overwrote the first's copies (analysts read the other data) and an incremental run reused
    the first's model. The first run writes the warehouse's file name in the artefacts folder; a run of a warehouse
    of another name there is refused before anything is written."""
    marker = artefacts_dir(warehouse) / "warehouse"
    if marker.exists():
        owner = marker.read_text().strip()
        if owner and owner != warehouse.name:
            raise FolderTaken(
                f"{warehouse.parent} holds the published copies, model and quality files of the warehouse '{owner}': "
                f"a run of '{warehouse.name}' there would overwrite them. Give '{warehouse.name}' a folder of its "
                f"own (or, if '{owner}' was renamed '{warehouse.name}', delete {marker}).")
        if owner:
            return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(warehouse.name + "\n")
