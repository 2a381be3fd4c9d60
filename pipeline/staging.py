"""Raw rows of one source -> canonical person records and activities, or quarantine with a reason.

Every raw row ends up in exactly one place: staged (as a person record, an activity or both) or
quarantined. A bad value in a staged row (an impossible birth date, a garbage phone) does not
reject the row: the field is left empty, the original stays beside it, and `field_issues` says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein

from pipeline.config import CONTACT_KINDS, SELECTOR, ConsentColumn, Source
from pipeline.drop_days import file_order
from pipeline.extract import ALSO
from pipeline.normalise import STRIPPED, address, email, missing, names, phone, subdivision, values
from pipeline.sql import literal
from pipeline.staging_lookup import GIVEN, NormalisedValues, distinct_pairs, spread
from pipeline.staging_renamed import erased_by_rename

CONSENT_ACTIONS = {"opt_in": "opt_in", "optin": "opt_in", "in": "opt_in", "subscribe": "opt_in",
                   "subscribed": "opt_in", "yes": "opt_in", "oui": "opt_in", "opted_in": "opt_in",
                   "opt_out": "opt_out", "optout": "opt_out", "out": "opt_out", "unsubscribe": "opt_out",
                   "unsubscribed": "opt_out", "no": "opt_out", "non": "opt_out", "opted_out": "opt_out",
                   # a ticked or unticked box: a spreadsheet's boolean cell, a JSON boolean (`"accepted": true`), a
                   # flag column's Y / N or 1 / 0 (a mailing list's `Opted In` column: each was quarantined)
                   "true": "opt_in", "false": "opt_out", "y": "opt_in", "n": "opt_out", "1": "opt_in", "0": "opt_out"}
# A consent column's yes and no in the languages of the CRMs the project was run on (seventeenth session: a Russian
# CRM's `да`, a Chinese shop's `是`, a German one's `ja` were each a field issue, the customer never contactable).
_YES = ("ja", "sí", "si", "sim", "tak", "да", "так", "ναι", "نعم", "כן", "是", "예", "네", "はい")
_NO = ("nein", "nej", "não", "nao", "nie", "нет", "не", "ні", "όχι", "لا", "לא", "否", "아니오", "아니요", "いいえ")
CONSENT_ACTIONS |= dict.fromkeys(_YES, "opt_in") | dict.fromkeys(_NO, "opt_out")
# Statuses a mailing tool writes that are no consent event: Mailchimp's `pending` (a double opt-in never confirmed: no
# consent), `cleaned` (a bounced, undeliverable address: kept, never contactable by it), `transactional` and
# `archived`, its newer `Non-subscribed`. In a person source the record is staged and gets no event (its point stays
# `unknown`, not contactable); they quarantined the record, person and all, until the sixteenth session.
NO_CONSENT = {"pending", "cleaned", "transactional", "archived", "non_subscribed", "nonsubscribed", "bounced",
              "hard_bounced", "hard_bounce"}
# A staged consent event's flag (not a column of staging.activities): dated by its drop day, its statement unchanged
# since the record's oldest version staged with it; staging_changes carries back the date of the same statement staged
# on an earlier run. ACTIVITY_STATEMENT: the slot of a person source's undated consent rows (_statements).
RESTATED, ACTIVITY_STATEMENT = "_restated", "_activity"
# Of them, the statuses saying an e-mail bounced (Mailchimp's `cleaned`: a hard bounce, or repeated soft ones): on the
# e-mail channel they mark the record's own e-mail undeliverable (`email_bounced_at`, the status's date or else its drop
# day). The mark lives as long as the record states it: a later version of the record saying something else, or the
# record retired (a full export no longer listing it, a tombstone), lifts it; an opt-in, of any source, does not.
BOUNCED = {"cleaned", "bounced", "hard_bounced", "hard_bounce"}
# A flag column's (`consent: {phone: {column: DoNotCall, true_means: opt_out}}`) ticked and unticked boxes.
TICKED = {"true": True, "yes": True, "y": True, "1": True, "x": True,
          "false": False, "no": False, "n": False, "0": False} | dict.fromkeys(_YES, True) | dict.fromkeys(_NO, False)
CONSENT_CHANNEL_ALIASES = {"email": "email", "e_mail": "email", "mail": "email", "newsletter": "email",
                           "sms": "sms", "text": "sms", "phone": "phone", "telephone": "phone", "call": "phone",
                           "post": "post", "postal": "post", "courrier": "post", "mail_postal": "post"}
IDENTIFYING = ("first_name", "last_name", "email", "phone")
SUPERSEDED_REASON = "duplicate record id"  # an older version of a record delivered again: superseded, not bad
# Its full reason, naming the version kept (`file:line`); staging_changes reads the file back to count same-day ids.
SUPERSEDED_BY = SUPERSEDED_REASON + "; the version at {kept} was kept"
# One file giving one record id to rows of different people is not a record and its versions: none is kept (a later
# row would otherwise supersede the other person, who would leave staging as a mere old version, never counted as bad).
SHARED_ID_REASON = ("record id shared in this file by rows whose first names or birth dates differ by more than one "
                    "edit (two people under one id?): none of them is staged")
# What the erasure and retention purge (pipeline/golden/purge.py) leaves in a raw row's first identifying column:
# the row is a record whose values were purged, staged with no values (not quarantined as an empty person), so
# counts reconcile and its customer keeps its id. The token itself never becomes a value.
PURGED_TOKEN = "erased"


@dataclass
class Staged:
    persons: pd.DataFrame
    activities: pd.DataFrame
    field_issues: pd.DataFrame
    quarantine: pd.DataFrame
    erasure_requests: pd.DataFrame | None = None
    contacts: pd.DataFrame | None = None  # a record's further e-mails and phones (more_contacts): staging.person_contacts


def _distinct_results(series: pd.Series, fn: Callable) -> tuple[np.ndarray, np.ndarray]:
    """fn over each distinct value, missing ones (None, NaN) included as fn(None) (sources repeat values a lot, and
    per-row Python is what costs at a million rows): the results, and each row's index into them."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        results[i] = fn(value)
    results[-1] = fn(None)  # code -1: a missing value
    return results, np.where(codes < 0, len(uniques), codes)


def _per_distinct(series: pd.Series, fn: Callable) -> pd.Series:
    """fn over each distinct value, spread back to the rows. Results keep their type (tuples)."""
    results, codes = _distinct_results(series, fn)
    return pd.Series(results[codes], index=series.index, dtype=object)


def _parts(series: pd.Series, fn: Callable, n: int) -> list[pd.Series]:
    """fn (a tuple of n parts, or None) over each distinct value, as n columns: split once per distinct value."""
    results, codes = _distinct_results(series, fn)
    return [pd.Series(part, index=series.index, dtype=object)
            for part in spread(results, n, np.ones(len(series), dtype=bool), codes)]


def _bulk_parts(series: pd.Series, fn: Callable, n: int) -> list[pd.Series]:
    """fn (distinct non-missing values -> a tuple of n parts for each) once over the column, as n columns; None
    where the value is missing."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    results = np.empty(len(uniques), dtype=object)
    for i, result in enumerate(fn(list(uniques)) if len(uniques) else []):
        results[i] = result
    return [pd.Series(part, index=series.index, dtype=object) for part in spread(results, n, codes >= 0, codes[codes >= 0])]


def _pair_parts(a: pd.Series, b: pd.Series, fn: Callable, n: int) -> list[pd.Series]:
    """fn(x, y) (a tuple of n parts) once per distinct pair of two aligned columns, as n columns; None where x is."""
    present, codes, pairs = distinct_pairs(a, b)
    results = np.empty(len(pairs), dtype=object)
    for i, (x, y) in enumerate(zip(pairs["raw"], pairs["region"], strict=True)):
        results[i] = fn(x, y)
    return [pd.Series(part, index=a.index, dtype=object) for part in spread(results, n, present, codes)]


def _col(frame: pd.DataFrame, column: str | tuple[str, ...] | None) -> pd.Series:
    if isinstance(column, tuple):  # a composite field: its parts joined by a space, missing parts left out
        parts = [_col(frame, c) for c in column]
        joined = [" ".join(v for v in values if v is not None) for values in zip(*parts, strict=False)]
        return pd.Series([v or None for v in joined], index=frame.index, dtype=object)
    if column is not None and CLEANED + column in frame.columns:
        return frame[CLEANED + column]
    if column is None or column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    if pd.api.types.infer_dtype(uniques, skipna=False) != "string":  # not all text: value by value
        return _per_distinct(frame[column], _stripped)
    stripped = pd.Series(np.asarray(uniques, dtype=object)).str.strip(STRIPPED)  # each distinct text once, in pandas' loop
    cleaned = np.append(stripped.where(stripped != "", None).to_numpy(dtype=object), None)  # code -1: missing
    return pd.Series(cleaned[codes], index=frame.index, dtype=object)


CLEANED = "_cleaned:"  # prefix of a mapped column's trimmed copy (stage_source adds them once: see _col)


def _stripped(value: object) -> str | None:
    """Trimmed text, None when missing or blank."""
    if type(value) is str:
        return value.strip(STRIPPED) or None
    return None if missing(value) else str(value).strip(STRIPPED)


class _Issues:
    """Collects field-level problems: (record, field, raw value, reason)."""

    def __init__(self, source: Source, frame: pd.DataFrame):
        self.source, self.frame, self.parts = source, frame, []

    def add(self, field: str, raw: pd.Series, reason: pd.Series) -> None:
        bad = reason.notna()
        if bad.any():
            self.parts.append(pd.DataFrame({
                "source": self.source.name, "source_record_id": self.frame.loc[bad, "_record_id"],
                "field": field, "raw_value": raw[bad].astype(str), "reason": reason[bad],
                "_file": self.frame.loc[bad, "_file"], "_line": self.frame.loc[bad, "_line"]}))

    def add_at(self, field: str, rows: pd.Series, raw: pd.Series, reason: pd.Series) -> None:
        """`add` for values not aligned with the frame: `rows` holds each value's row (a frame index label)."""
        bad = reason.notna()
        if bad.any():
            at = rows[bad].to_numpy()
            self.parts.append(pd.DataFrame({
                "source": self.source.name, "source_record_id": self.frame.loc[at, "_record_id"].to_numpy(),
                "field": field, "raw_value": raw[bad].astype(str).to_numpy(), "reason": reason[bad].to_numpy(),
                "_file": self.frame.loc[at, "_file"].to_numpy(), "_line": self.frame.loc[at, "_line"].to_numpy()}))

    def frame_out(self) -> pd.DataFrame:
        cols = ["source", "source_record_id", "field", "raw_value", "reason", "_file", "_line"]
        return pd.concat(self.parts, ignore_index=True) if self.parts else pd.DataFrame(columns=cols)


def quarantine_rows(source: Source, frame: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    raw_cols = [c for c in frame.columns if not c.startswith("_")]
    record = frame[raw_cols].apply(lambda r: r.dropna().to_json(force_ascii=False), axis=1) \
        if len(frame) else pd.Series(dtype=object)
    return pd.DataFrame({
        "source": source.name, "_file": frame["_file"], "_line": frame["_line"],
        "source_record_id": frame.get("_record_id"), "reason": reason,
        "raw_record": frame["_raw"].where(frame["_raw"].notna(), record)})


def _consent_key(value: object) -> str | None:
    """A consent action or channel as the alias tables spell it ('Opt-In ' -> 'opt_in'); None when missing."""
    return None if missing(value) else str(value).strip().lower().replace("-", "_").replace(" ", "_")


def _channels(cells: pd.Series) -> pd.Series:
    """The consent channel each cell names (CONSENT_CHANNEL_ALIASES), None where none; once per distinct value."""
    return _per_distinct(cells, lambda v: CONSENT_CHANNEL_ALIASES.get(_consent_key(v)))


def _actions(cells: pd.Series) -> pd.Series:
    """The consent action each cell states (CONSENT_ACTIONS), None where none; once per distinct value."""
    return _per_distinct(cells, lambda v: CONSENT_ACTIONS.get(_consent_key(v)))


def _column_actions(spec: ConsentColumn, cells: pd.Series) -> pd.Series:
    """A `consent:` column's action per cell: the action it states, or for a flag (`true_means`) that action where
    its box is ticked; None where it says none."""
    if spec.true_means is None:
        return _actions(cells)
    return _per_distinct(cells, lambda v, means=spec.true_means: means if TICKED.get(_consent_key(v)) else None)


def _activity_col(frame: pd.DataFrame, source: Source, field: str) -> pd.Series:
    """An activity field's values: its column's, or the one value the sources file gives every row."""
    if field in source.activity_values:
        return pd.Series(source.activity_values[field], index=frame.index, dtype=object)
    return _col(frame, source.activity.get(field))


# What a name written in one column (`person.full_name`) is split into (names.split_full_name's order).
SPLIT_FROM_FULL_NAME = ("first_name", "last_name", "civility")


def _person_values(frame: pd.DataFrame, source: Source, field: str) -> pd.Series:
    """A person field's values as the source gives them: first and last names (and the civility, unless mapped) of a
    source giving a full name are split from it."""
    full = source.person.get("full_name")
    if full is None or field not in SPLIT_FROM_FULL_NAME or field in source.person:
        return _col(frame, source.person.get(field))
    family_first, part = source.name_order == "family_first", SPLIT_FROM_FULL_NAME.index(field)
    return _per_distinct(_col(frame, full), lambda v: names.split_full_name(v, family_first)[part])


def _identifying(frame: pd.DataFrame, source: Source, field: str) -> pd.Series:
    """Whether each row holds a usable value of an identifying field (a name like '007' is not one)."""
    values = _person_values(frame, source, field)
    if field in ("first_name", "last_name"):
        return _per_distinct(values, lambda v: not missing(v) and names.implausible(v) is None).astype(bool)
    return values.notna()


def _date_from_parts(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """yyyy-mm-dd from (year, month, day) columns; a part missing or not a number leaves the date empty."""
    parts = [_col(frame, c) for c in columns]

    def iso(y, m, d) -> str | None:
        if not all(v is not None and str(v).strip().split(".")[0].isdigit() for v in (y, m, d)):
            return None
        y, m, d = (int(str(v).strip().split(".")[0]) for v in (y, m, d))
        return f"{y:04d}-{m:02d}-{d:02d}"
    return pd.Series([iso(*v) for v in zip(*parts, strict=False)], index=frame.index, dtype=object)


def identifier_key(value: object) -> str | None:
    """Match form of a strong identifier: letters and digits only, upper case ('123 456-789' = '123456789')."""
    if missing(value):
        return None
    key = "".join(ch for ch in str(value).upper() if ch.isalnum())
    return key or None


def _identifiers(source: Source, frame: pd.DataFrame) -> pd.Series:
    """JSON object {identifier name: match form} per row (NULL without any): one column whatever the names."""
    names = list(source.identifiers)
    keys = [_per_distinct(_col(frame, source.identifiers[n]), identifier_key).tolist() for n in names]
    # not missing(): under pandas 3 a None mapped over a string column comes back as NaN (json.dumps writes NaN)
    rows = [{n: v for n, v in zip(names, values, strict=False) if not missing(v)} for values in zip(*keys, strict=False)] if names else []
    return pd.Series([json.dumps(r, sort_keys=True) if r else None for r in rows] if names else [None] * len(frame),
                     index=frame.index, dtype=object)


def _set(reason: pd.Series, rows: pd.Series, why: str | pd.Series) -> None:
    """reason[rows] = why, skipped when no row is concerned (pandas' masked assignment costs ~0.4 ms even then, and a
    day's sources hardly ever need it)."""
    if rows.any():
        reason[rows] = why


# The newest version of a record is a tombstone (the source's `deleted` key): the record is retired, not bad data. The
# row is kept in quarantine under this reason, counted apart (deleted_rows), and stays a version of its record id: a
# later live version supersedes it (the record comes back), as it superseded the live versions before it.
DELETED_REASON = "deleted at the source (a tombstone row): the record is retired"
# A record of a full delivery (the source's `delivery: full`) that its newest export omits was deleted at the source:
# its last version leaves staging for quarantine under this reason (retired, not bad data; counted as deleted_rows). A
# later export holding the record again brings it back, this row then becoming a superseded version.
ABSENT_REASON = "absent from its source's newest full export (delivery: full): the record is retired"
# Both ways a source deletes a record. The records retired so (source, source_record_id): their values are scrubbed as
# data minimisation (golden/purge.py), and so is the history of a customer who left with them (marts/history.py).
RETIRED_REASONS = (DELETED_REASON, ABSENT_REASON)
RETIRED_RECORDS_SQL = ("SELECT source, source_record_id FROM staging.quarantine "
                       f"WHERE reason IN ({', '.join(map(literal, RETIRED_REASONS))})")
NO_DATE_NOR_PERSON = "neither a date nor a person: a summary or footer row (a spreadsheet's total)?"
NO_PERSON_REASON = "no name, e-mail or phone to identify the person"
# A deletion whose record id column is empty: a change feed's delete event carries the id elsewhere (Debezium's
# `"before": {"id": 2, ...}, "after": null` for a source mapping `after.*`). It was "no name, e-mail or phone", counted as
# a footer when last in its file: the deletion was lost without a word and the record stayed published. Bad data.
TOMBSTONE_WITHOUT_ID = ("a deletion (tombstone row, column '{deleted}') without its record id (column '{record_id}' is "
                        "empty): nothing can be retired; map the id the deletion carries")


def footer_rule(source: Source) -> bool:
    """Whether a row of the source holding neither its activity's date nor its person's reference is refused: a
    spreadsheet's footer (`Summe;;;48,00`) under the record id column was staged as a purchase of the total, and
    each day's superseded the last as a version. Such a row can be neither dated nor attributed: it is no activity.
    (Sources whose rows are their own person, or with no date mapped, are left as they are.)"""
    return bool(source.person_ref and not source.has_person and source.activity.get("occurred_at"))


def tombstones(source: Source, frame: pd.DataFrame) -> pd.Series:
    """Whether each row marks its record deleted (the source's `deleted` key; all False without one)."""
    if source.deleted is None:
        return pd.Series(False, index=frame.index)
    return _per_distinct(_col(frame, source.deleted.column), source.deleted.marks).astype(bool)


def _row_rejections(source: Source, frame: pd.DataFrame, renamed: dict[str, list[str]] | None = None) -> pd.Series:
    """The reason a whole row cannot be staged, or None."""
    tomb = tombstones(source, frame)
    reason = _versions(source, frame, renamed, tomb)
    # A tombstone kept as its record's newest version retires the record (its earlier versions were superseded).
    _set(reason, reason.isna() & tomb, DELETED_REASON)
    return reason


def _versions(source: Source, frame: pd.DataFrame, renamed: dict[str, list[str]] | None,
              tomb: pd.Series) -> pd.Series:
    """The reason a whole row cannot be staged, or None, the tombstones (`tomb`) left as versions of their record id."""
    reason = frame["_error"].copy()
    if source.has_person:
        present = np.logical_or.reduce([_identifying(frame, source, f).to_numpy() for f in IDENTIFYING])
        # Neither an id nor a person (a report's `;;;;Total;1 336,40`): said as such, so a file's last one counts as
        # its footer (scorecard), not as bad data; as "missing record id" it blocked a source of three rows a day.
        _set(reason, reason.isna() & frame["_record_id"].isna() & tomb, TOMBSTONE_WITHOUT_ID.format(
            deleted=source.deleted.column if source.deleted else "", record_id=source.record_id))
        _set(reason, reason.isna() & frame["_record_id"].isna() & ~present & ~frame["_purged"], NO_PERSON_REASON)
    if footer_rule(source):  # before a missing id, as in staging_activities.py: a footer's id is often empty too
        # a label in the date column (`;;Summe;1.331,49 €`) is no date either: a date holds a digit
        undated = ~_col(frame, source.activity["occurred_at"]).fillna("").str.contains(r"\d")
        _set(reason, reason.isna() & undated & _col(frame, source.person_ref.column).isna(), NO_DATE_NOR_PERSON)
    _set(reason, reason.isna() & frame["_record_id"].isna(), f"missing record id (column '{source.record_id}')")
    if source.activity_type == "consent" and not source.has_person:  # a person source's: a field issue (_consent_rows)
        action, channel = _activity_col(frame, source, "consent_action"), _activity_col(frame, source, "consent_channel")
        bad_action = _per_distinct(action, lambda v: _consent_key(v) not in CONSENT_ACTIONS).astype(bool)
        bad_channel = _per_distinct(channel, lambda v: _consent_key(v) not in CONSENT_CHANNEL_ALIASES).astype(bool)
        _set(reason, reason.isna() & bad_action, _per_distinct(
            action, lambda v: f"unknown consent action '{v}' (allowed: opt_in, opt_out)"))
        _set(reason, reason.isna() & bad_channel, _per_distinct(
            channel, lambda v: f"unknown consent channel '{v}' (allowed: email, sms, phone, post)"))
    if source.has_person:  # an empty person would become an empty customer (and its activities with it)
        # A tombstone need hold no value: it says the record is gone.
        _set(reason, reason.isna() & ~present & ~frame["_purged"] & ~tomb, NO_PERSON_REASON)
        _set(reason, reason.isna() & _shared_ids(source, frame, reason.isna() & ~tomb), SHARED_ID_REASON)
    # Same record id twice: the newest version wins (version_order), unless its file's export renamed a key an earlier
    # version holds a value for (staging_renamed.py).
    dup = reason.isna() & frame["_record_id"].notna()
    if renamed and (dup & ~tomb).any():  # a tombstone erases the record anyway
        stopped = erased_by_rename(frame.loc[dup & ~tomb], renamed, lambda key: CLEANED + key).reindex(frame.index)
        _set(reason, stopped.notna(), stopped)
        dup = reason.isna() & frame["_record_id"].notna()
    if not frame.loc[dup, "_record_id"].duplicated().any():
        return reason
    versions = frame.loc[dup, ["_record_id", "_file", "_line"]]
    versions = versions[versions["_record_id"].duplicated(keep=False)]
    keep = oldest_to_newest(source, versions, frame.loc[versions.index]) \
        .drop_duplicates("_record_id", keep="last")
    kept_at = keep.set_index("_record_id")[["_file", "_line"]]
    later = frame.index.isin(versions.index) & ~frame.index.isin(keep.index)
    if later.any():
        reason[later] = frame.loc[later, "_record_id"].map(
            lambda r: SUPERSEDED_BY.format(kept=f"{kept_at.at[r, '_file']}:{kept_at.at[r, '_line']}"))
    return reason


def oldest_to_newest(source: Source, versions: pd.DataFrame, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """`versions` (_record_id, _file, _line) in the order of a record's versions, newest last: version_dates of `rows`
    (their own rows by default), then file (as numbered: drop_days.file_order) and line. The one order of both staging
    paths (full and incremental)."""
    dated = versions.assign(_at=version_dates(source, versions if rows is None else rows),
                            _order=versions["_file"].map(file_order, na_action="ignore"))
    return dated.sort_values(["_at", "_order", "_file", "_line"], na_position="first", kind="stable") \
        .drop(columns="_order")


def version_dates(source: Source, rows: pd.DataFrame) -> pd.Series:
    """What orders a record's versions, newest last: its mapped update date, else its drop day (a record without a date
    is seen on its delivery day, as retention reads it); then file and line. A full export re-sent after a delta, or a
    late file, that holds an older version (an older update date) no longer replaces the newer one: the last delivered
    won until 2026-11-28, an e-mail changed on day two came back as it was. The incremental path orders by the same
    values (staging_changes._supersede). An activity-only source keeps file and line alone (NaT), as its SQL path
    (staging_activities.py) orders them: its rows are events, not versions of a record an export may hold stale."""
    if not source.has_person:
        return pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    updated, _ = values.parse_datetimes(_col(rows, source.updated_at), source.date_formats)
    drop = pd.to_datetime(rows["_drop"], errors="coerce") if "_drop" in rows else pd.Series(pd.NaT, index=rows.index)
    updated = pd.to_datetime(updated)
    # An update date after the file's drop day (a year typed 2062 for 2026) is not believed: it would keep that
    # version over every later delivery. A day's slack for time zones.
    return updated.mask(updated > drop + pd.Timedelta(days=1), drop).fillna(drop)


def _shared_ids(source: Source, frame: pd.DataFrame, candidates: pd.Series) -> pd.Series:
    """Whether each row's record id is held, in the same file, by another candidate row with another first name or
    birth date (the fields a person keeps between two rows of one export; compared as `Jean`, `JEAN ` and `Jéan` are
    one name, `03/02/1980` and `03-02-1980` one date) more than one edit away. Rows repeated as they were, a full
    export sent again (another file) and a record's versions that agree on both, or were corrected by one edit, keep
    the versions rule."""
    shared = pd.Series(False, index=frame.index)
    keys = frame.loc[candidates & frame["_record_id"].notna(), ["_record_id", "_file"]]
    keys = keys[keys.duplicated(keep=False)]  # nearly always empty: one row per id and file
    for field, key in (("first_name", names.match_form), ("birth_date", identifier_key)):
        if keys.empty:
            continue
        values = _per_distinct(_person_values(frame.loc[keys.index], source, field), key)
        held = keys.assign(value=values).dropna().groupby(["_record_id", "_file"])["value"].unique()
        conflicted = held[held.map(_more_than_a_correction)].index
        if len(conflicted):
            shared.loc[keys.index[pd.MultiIndex.from_frame(keys).isin(conflicted)]] = True
    return shared


def _more_than_a_correction(held: np.ndarray) -> bool:
    """Whether the values one record id holds in one file differ by more than one edit: `Jon` then `John`, or a birth
    date's digit fixed, is a record corrected within an export of its history, not a second person."""
    return any(DamerauLevenshtein.distance(a, b) > 1 for i, a in enumerate(held) for b in held[i + 1:])


# The fields whose raw values key the normalisation lookup (staging_lookup.py), as _stage_persons looks them up.
LOOKED_UP = ("first_name", "last_name", "email", "phone", "street", "city")
# The person fields whose raw value staging keeps beside its reading (`<field>_raw`).
RAW_KEPT = ("first_name", "last_name", "birth_date", "email", "phone", "street", "postcode", "city", "state")


def looked_up_values(source: Source, raw: pd.DataFrame) -> set[str]:
    """The values raw rows of a person source were (or would be) looked up by in the normalisation lookup: what the
    purge makes it forget of a record whose raw rows it scrubs outside a customer (purge.py)."""
    frame = prepare(source, raw)
    return {v for f in LOOKED_UP for v in _person_values(frame, source, f).dropna()} \
        | set(_further_values(source, frame)["raw"])


def contact_keys(source: Source, frame: pd.DataFrame, lookup: NormalisedValues) -> pd.DataFrame:
    """Each valid e-mail and phone prepared rows of a person source hold, keyed as staging keys them (e-mail match key,
    E.164; `row`: the frame's index label, `kind`, `key`): the record's own and its further ones (`more_contacts`, a
    cell's or a JSON list's further elements). What the purge compares a quarantined row with the erasure registry by
    (purge.py): a row holding an erased e-mail only in its `email_pro` column holds it all the same."""
    region = _per_distinct(_person_values(frame, source, "country"), address.country_code).fillna(source.country)
    mail, ok, _ = lookup.columns("email", _person_values(frame, source, "email"))
    phone, valid, *_ = lookup.columns("phone", _person_values(frame, source, "phone"), region)
    parts = [pd.DataFrame({"row": frame.index, "kind": "email",
                           "key": _per_distinct(mail.where(ok.eq(True)), email.email_match_key).to_numpy()}),
             pd.DataFrame({"row": frame.index, "kind": "phone", "key": phone.where(valid.eq(True)).to_numpy()})]
    further = _further_values(source, frame)
    for kind in CONTACT_KINDS:
        rows = further[further["kind"] == kind].reset_index(drop=True)
        if rows.empty:
            continue
        if kind == "email":
            value, ok, _ = lookup.columns("email", rows["raw"])
            key = _per_distinct(value.where(ok.eq(True)), email.email_match_key)
        else:
            value, ok, *_ = lookup.columns("phone", rows["raw"], region.loc[rows["row"]].reset_index(drop=True))
            key = value.where(ok.eq(True))
        parts.append(pd.DataFrame({"row": rows["row"], "kind": kind, "key": key.to_numpy()}))
    return pd.concat(parts, ignore_index=True).dropna(subset=["key"])


def _stage_persons(source: Source, frame: pd.DataFrame, issues: _Issues, today: date,
                   lookup: NormalisedValues) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    p = {f: _person_values(frame, source, f) for f in ("first_name", "last_name", "birth_date", "email", "phone",
                                                       "street", "postcode", "city", "state", "country")}
    nick = names.nickname_table()
    out = {"source": source.name, "source_record_id": frame["_record_id"], "channel": source.channel,
           "trust_rank": source.trust_rank, "record_updated_at": frame["_updated_at"],
           "record_delivered_at": frame["_delivered_at"]}  # framed once at the end (see _stage_activities)
    code = _per_distinct(p["country"], address.country_code)
    issues.add("country", p["country"], _per_distinct(p["country"].where(code.isna()), lambda v: None if missing(v) else
                                                      f"'{v}' names no country we know: read as the source's {source.country}"))
    # a record without a country of its own whose state and postcode both say another (a Quebec customer of a US
    # till: `PQ`, `H3B 1A7`) is in that one: both were field issues, read as American
    told = code.isna() & p["state"].notna() & p["postcode"].notna()
    if told.any():
        code = code.copy()
        code[told] = _pair_parts(p["state"][told], p["postcode"][told],
                                 lambda s, z: (subdivision.country_of(s, z, source.country),), 1)[0]
    region = country = code.fillna(source.country)
    raw = dict(p)  # as delivered: each field's `<field>_raw`
    _split_address_tails(p, country)
    further = _further_values(source, frame)
    further["region"] = region.loc[further["row"]].to_numpy() if len(further) else further["raw"]
    # kind -> (its values, their raw text, their regions): the very Series prefetch factorised are the ones looked up
    more = {kind: (rows, rows["raw"], rows["region"]) for kind in CONTACT_KINDS
            for rows in [further[further["kind"] == kind].reset_index(drop=True)]}
    said = {"first_name": p["first_name"], "last_name": _per_distinct(p["last_name"], names.particles_first)}
    rules = _per_distinct(country, names.casing)
    given = (rules + " " + GIVEN).str.strip()  # a first name's context: its country's casing, and no surname's 'Mc'
    lookup.prefetch({"name": [(said["first_name"], given), (said["last_name"], rules)],
                     "email": [(p["email"], ""), *[(more["email"][1], "")][:len(more["email"][1]) > 0]],
                     "phone": [(p["phone"], region), *[more["phone"][1:]][:len(more["phone"][1]) > 0]],
                     "street": [(p["street"], region)], "city": [(p["city"], rules)]})
    for f, context in (("first_name", given), ("last_name", rules)):
        why, out[f], out[f"{f}_norm"] = lookup.columns("name", said[f], context)
        issues.add(f, p[f], why)
    out["first_name_canonical"] = _per_distinct(out["first_name_norm"], lambda n: names.canonical_first_name(n, nick))
    born_spec, formats = source.person.get("birth_date"), source.date_formats
    if isinstance(born_spec, tuple):  # assembled from year, month and day columns
        p["birth_date"], formats = _date_from_parts(frame, born_spec), ("%Y-%m-%d",)
    born, why = _bulk_parts(p["birth_date"], lambda vs: values.parse_birth_dates(vs, formats, today), 2)
    out["birth_date"] = pd.to_datetime(born).dt.date
    issues.add("birth_date", p["birth_date"], why)
    mail, ok, why = lookup.columns("email", p["email"])
    out["email"], out["email_valid"] = mail, ok.eq(True)
    out["email_key"] = _per_distinct(mail.where(out["email_valid"]), email.email_match_key)
    issues.add("email", p["email"], why)
    out["phone"], ok, out["phone_kind"], why = lookup.columns("phone", p["phone"], region)
    out["phone_valid"] = ok.eq(True)
    issues.add("phone", p["phone"], why)
    out["street"] = _per_distinct(p["street"], names.clean)
    out["street_norm"], = lookup.columns("street", p["street"], region)
    out["postcode"], ok = _pair_parts(p["postcode"], country, address.normalise_postcode, 2)
    out["postcode_valid"] = ok.eq(True)
    issues.add("postcode", p["postcode"], _per_distinct(p["postcode"].where(~out["postcode_valid"] & p["postcode"].notna()),
                                                        lambda v: None if missing(v) else f"'{v}' is not a valid postcode"))
    out["city"], out["city_norm"] = lookup.columns("city", p["city"], rules)
    out["state"], why = _states(p["state"], country, out["postcode"].where(out["postcode_valid"]))
    issues.add("state", p["state"], why)
    out["country"] = country
    out["civility"] = _per_distinct(_person_values(frame, source, "civility"), names.civility)
    out["identifiers"] = _identifiers(source, frame)
    contacts = _stage_contacts(source, frame, more, out, issues, lookup)
    _further_elements(source, frame, issues)
    for f in RAW_KEPT:
        out[f"{f}_raw"] = raw[f]
    out["_file"], out["_line"] = frame["_file"], frame["_line"]
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True), contacts


def _states(written: pd.Series, country: pd.Series, postcode: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each record's state and why it was left empty (subdivision.normalise_state), read where one is written or
    the record's country has postcodes naming one: elsewhere (France) nothing to read, and no Python over its rows
    (1.2 CPU s at a million French records)."""
    state = pd.Series([None] * len(written), index=written.index, dtype=object)
    why = state.copy()
    named = _per_distinct(country, lambda c: isinstance(c, str) and bool(subdivision.subdivisions(c).postcodes))
    rows = written.notna() | named.astype(bool)
    if rows.any():
        held = pd.Series(list(zip(written[rows], country[rows], postcode[rows], strict=True)),
                         index=written.index[rows], dtype=object)
        state[rows], why[rows] = _parts(held, lambda h: subdivision.normalise_state(*h) if h else (None, None), 2)
    return state, why


def _split_address_tails(p: dict[str, pd.Series], country: pd.Series) -> None:
    """A record without a postcode whose street cell holds the whole address ('742 Evergreen Terrace, Springfield,
    IL 62704': a form's or a CRM's one address field) gets its town, state and postcode from it
    (subdivision.address_tail), each where its own field is empty: it had no postcode, so no address survived."""
    rows = p["street"].notna() & p["postcode"].isna()
    if not rows.any():
        return
    street, town, state, postcode = _pair_parts(
        p["street"][rows], country[rows], lambda s, c: subdivision.address_tail(s, c) or (None,) * 4, 4)
    found = postcode.notna()
    if not found.any():
        return
    at = found[found].index
    p["street"], p["postcode"] = p["street"].copy(), p["postcode"].copy()
    p["street"].loc[at], p["postcode"].loc[at] = street[at], postcode[at]
    for field, value in (("city", town), ("state", state)):
        p[field] = p[field].copy()
        empty = at[p[field].loc[at].isna().to_numpy()]
        p[field].loc[empty] = value[empty]


def _further_values(source: Source, frame: pd.DataFrame) -> pd.DataFrame:
    """A record's further e-mails and phones, one row each (row: the frame's index label; kind; column; raw), in the
    order of the sources file: the further elements a person field's selector matched (`contacts[kind=email].value`
    holding two e-mails), then each `more_contacts` column (and the further elements of a selector there)."""
    parts = []
    for kind in CONTACT_KINDS:
        main = source.person.get(kind)
        columns = [(main, True)] if isinstance(main, str) else []
        columns += [(c, False) for c in source.more_contacts.get(kind, ())]
        for column, is_main in columns:
            listed = [(_in_one_cell(kind, _col(frame, column), source.country), column)] if is_main \
                else [(_col(frame, column), column)]
            if ALSO + column in frame.columns:  # a JSON list of the further elements' values
                also = frame[ALSO + column].map(lambda v: None if missing(v) else json.loads(v)).explode().dropna()
                listed.append((also.map(_stripped).dropna(), column))
            for held, name in listed:
                held = held.dropna()
                parts.append(pd.DataFrame({"row": held.index, "kind": kind, "column": name,
                                           "raw": held.to_numpy(dtype=object)}))
    if not parts:
        return pd.DataFrame({"row": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                             "column": pd.Series(dtype=object), "raw": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


def _in_one_cell(kind: str, values: pd.Series, region: str) -> pd.Series:
    """The values after the first of the cells holding several e-mails or phones (`a@x.fr; b@y.fr`, `0612345678 /
    0145678901`), one row each (index: the cell's row); a cell's first is the record's own (normalise_email and
    normalise_phone read it). Only cells with two '@' or more than one number's 15 digits are read twice."""
    text = values.dropna()
    if kind == "email":
        text, further = text[text.str.count("@") > 1], email.further_addresses
    else:
        text, further = text[text.str.count(r"\d") > 15], lambda v: phone.further_numbers(v, region)
    return _per_distinct(text, lambda v: [] if v is None else further(v)).explode().dropna() if len(text) else text


def _further_elements(source: Source, frame: pd.DataFrame, issues: _Issues) -> None:
    """A field issue for each person field but the e-mail and phone (whose further values are contact points of the
    record, _further_values) whose selector (`addresses[kind=home].lines`) matched further elements in a record: one
    value a field a record is staged, the first; the others were lost without a word."""
    for f, column in source.person.items():
        if f not in CONTACT_KINDS and isinstance(column, str) and (selector := SELECTOR.fullmatch(column)) \
                and ALSO + column in frame.columns:
            others = frame[ALSO + column]
            pick = f"{selector['array']}[{selector['key']}={selector['value']}]"
            issues.add(f, others, others.map(lambda v, f=f, pick=pick: None if missing(v) else (
                f"{pick} holds {len(json.loads(v)) + 1} elements: the first one's {f} is staged, not these "
                f"(a record holds one {f})")))


def _stage_contacts(source: Source, frame: pd.DataFrame, more: dict[str, tuple], record: dict,
                    issues: _Issues, lookup: NormalisedValues) -> pd.DataFrame | None:
    """staging.person_contacts: each further e-mail and phone of a record (`more`: _further_values by kind, with each
    value's region) normalised as the record's own field is, by the same lookup, an invalid one a field issue of its
    field as well. A value the record's own field or an earlier one already holds (the same mailbox, the same number)
    is not staged twice."""
    staged = []
    for kind, (rows, raw, region) in more.items():
        if rows.empty:
            continue
        if kind == "email":
            value, ok, why = lookup.columns("email", raw)
            valid = ok.eq(True)
            key, kind_of_phone = _per_distinct(value.where(valid), email.email_match_key), None
            own = pd.Series(record["email_key"]).where(record["email_valid"], record["email"])
        else:
            value, ok, kind_of_phone, why = lookup.columns("phone", raw, region)
            valid, key = ok.eq(True), value
            own = pd.Series(record["phone"])
        issues.add_at(kind, rows["row"], raw, why)
        same = key.where(valid, value)
        repeated = same.notna() & (same.to_numpy() == own.loc[rows["row"]].to_numpy())
        repeated |= same.notna() & pd.DataFrame({"row": rows["row"], "same": same}).duplicated()
        staged.append(pd.DataFrame({
            "source": source.name, "source_record_id": frame.loc[rows["row"], "_record_id"].to_numpy(),
            "kind": kind, "source_column": rows["column"], "value": value, "valid": valid,
            "contact_key": key.where(valid), "phone_kind": kind_of_phone, "raw": raw,
            "_file": frame.loc[rows["row"], "_file"].to_numpy(), "_line": frame.loc[rows["row"], "_line"].to_numpy(),
        }, index=rows.index)[~repeated.to_numpy()])
    return pd.concat(staged, ignore_index=True) if staged else None


def _stage_activities(source: Source, frame: pd.DataFrame, issues: _Issues,
                      since: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The activity columns of the kept rows. A run stages activity-only sources by the same rules in DuckDB SQL
    (pipeline/staging_activities.py): a rule changed here is changed there (tests/test_staging_activities.py)."""
    a = {f: _activity_col(frame, source, f) for f in (*source.activity, *source.activity_values)}
    empty = _col(frame, None)
    # Columns gathered in a dict and framed once: a column set into a frame one at a time costs pandas a block
    # insertion each and a consolidation later, a fixed cost per column that a day's ~100 rows a source feel.
    out = {"source": source.name, "source_record_id": frame["_record_id"],
           "channel": source.channel, "activity_type": source.activity_type}
    if source.person_ref:
        out["person_source"] = source.person_ref.source
        out["person_record_id"] = _col(frame, source.person_ref.column)
    else:
        out["person_source"], out["person_record_id"] = source.name, frame["_record_id"]
    for f in ("occurred_at", "closed_at"):
        ts, why = values.parse_datetimes(a.get(f, empty), source.date_formats)
        out[f] = pd.to_datetime(ts)
        issues.add(f, a.get(f, empty), why)
    if "currency" in a:  # each row's currency in its own column: parsed once per distinct (amount, currency) pair
        amount, currency, why = _parts(pd.Series(list(zip(a.get("amount", empty), a["currency"], strict=True)),
                                                 index=frame.index, dtype=object),
                                       lambda v: None if v is None else
                                       values.parse_priced(*v, source.decimal, source.currency), 3)
    else:
        amount, currency, why = _parts(a.get("amount", empty), lambda v: None if v is None else
                                       values.parse_money(v, source.decimal, source.currency), 3)
    out["amount"] = pd.to_numeric(amount)
    # the currency the value writes, else the source's; NULL: the house currency (golden/currency.py)
    out["currency"] = currency.where(currency.notna() | pd.to_numeric(amount).isna(), source.currency)
    issues.add("amount", a.get("amount", empty), why)
    for f in ("quantity", "rating"):
        num, why = _parts(a.get(f, empty), lambda v: None if v is None else values.parse_count(v, source.decimal), 2)
        out[f] = pd.to_numeric(num).round().astype("Int64")
        issues.add(f, a.get(f, empty), why)
    out["rating"] = out["rating"].where(out["rating"].between(1, 5))
    for f in ("status", "category", "store_id", "device_id", "collection_point"):
        out[f] = a.get(f, empty)
    # once per distinct value (sources without consent columns hold a million missing ones)
    out["consent_channel"] = _channels(a.get("consent_channel", empty))
    out["consent_action"] = _actions(a.get("consent_action", empty))
    out["_file"], out["_line"] = frame["_file"], frame["_line"]
    staged = pd.DataFrame(out, index=frame.index)
    if source.activity_type == "consent" and source.has_person:
        staged = _person_consent(source, frame, issues, staged, a.get("consent_action", empty),
                                 a.get("consent_channel", empty), (since or {}).get(ACTIVITY_STATEMENT))
    return staged.reset_index(drop=True)


def _person_consent(source: Source, frame: pd.DataFrame, issues: _Issues, events: pd.DataFrame, action: pd.Series,
                    channel: pd.Series, since: pd.DataFrame | None = None) -> pd.DataFrame:
    """A person record's consent events, the rows saying none left out: an empty cell or a status that is no consent
    (NO_CONSENT) says nothing, an unreadable one is a field issue. The record itself is staged (it was quarantined,
    person and all, for its consent cell). An event without a date of its own is dated by its drop day: a contact
    export's flag is the source's word on the day it was delivered (it holds no time)."""
    for field, values_, known in (("consent_action", action, CONSENT_ACTIONS),
                                  ("consent_channel", channel, CONSENT_CHANNEL_ALIASES)):
        issues.add(field, values_, _per_distinct(values_, lambda v, known=known: None if missing(v) or _consent_key(v)
                                                 in known or _consent_key(v) in NO_CONSENT else
                                                 f"'{v}' says no consent we know: no event staged"))
    undated = events["occurred_at"].isna()
    events["occurred_at"] = events["occurred_at"].fillna(_drop_days(frame) if since is None else since["since"])
    events[RESTATED] = undated & (False if since is None else since["spans"])
    return events[events["consent_action"].notna() & events["consent_channel"].notna()]


def _has_event(source: Source, frame: pd.DataFrame, activities: pd.DataFrame) -> pd.Series:
    """Whether each row of a source mapping an activity date stages a dated activity (`activities`, its rows' in their
    order): every row whose date was read, but a consent row whose action or channel says none (_person_consent
    leaves it out; a consent event without a date is dated by its drop day)."""
    if source.activity_type != "consent" or not source.has_person:
        return pd.Series(activities["occurred_at"].notna().to_numpy(), index=frame.index)
    return _actions(_activity_col(frame, source, "consent_action")).notna() \
        & _channels(_activity_col(frame, source, "consent_channel")).notna()


def _consent_columns(source: Source, frame: pd.DataFrame, issues: _Issues,
                     since: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame | None:
    """The events of the record's own consent columns (`consent:`, one per channel), each dated by its drop day (a
    contact export's flag holds no time: it is the source's word on the day it was delivered). A cell saying nothing
    (empty, NO_CONSENT, a flag's unticked box) makes no event; an unreadable one is a field issue."""
    parts = []
    for channel, spec in source.consent.items():
        cells = _col(frame, spec.column)
        action = _column_actions(spec, cells)
        known = {**CONSENT_ACTIONS, **dict.fromkeys(NO_CONSENT)} if spec.true_means is None else TICKED
        issues.add(f"consent.{channel}", cells, _per_distinct(cells, lambda v, known=known: None if missing(v) or
                                                              _consent_key(v) in known else
                                                              f"'{v}' says no consent we know: no event staged"))
        stated = (since or {}).get(channel)
        parts.append(pd.DataFrame({
            "source": source.name, "source_record_id": frame["_record_id"], "channel": source.channel,
            "activity_type": "consent", "person_source": source.name, "person_record_id": frame["_record_id"],
            "occurred_at": _drop_days(frame) if stated is None else stated["since"], "consent_channel": channel,
            "consent_action": action, RESTATED: True if stated is None else stated["spans"],
            "_file": frame["_file"], "_line": frame["_line"]})[action.notna()])
    return pd.concat(parts, ignore_index=True) if parts else None


def _statements(source: Source, frame: pd.DataFrame) -> dict[str, pd.Series]:
    """What each row states of consent without a date, per slot: each `consent:` column (its channel), and a person
    source's undated consent row (ACTIVITY_STATEMENT: channel and action); None where it states nothing."""
    out = {}
    for channel, spec in source.consent.items():
        out[channel] = _column_actions(spec, _col(frame, spec.column))
    if source.activity_type == "consent" and source.has_person and "consent_action" in (*source.activity,
                                                                                         *source.activity_values):
        undated = ~_activity_col(frame, source, "occurred_at").fillna("").astype(str).str.contains(r"\d")
        channel = _channels(_activity_col(frame, source, "consent_channel"))
        action = _actions(_activity_col(frame, source, "consent_action"))
        out[ACTIVITY_STATEMENT] = (channel.fillna("") + ":" + action.fillna("")).where(undated)
    return out


def _stated_since(source: Source, frame: pd.DataFrame, versions: pd.Series) -> dict[str, pd.DataFrame]:
    """Per statement slot (_statements), for each row: `since`, the drop day of the oldest of its record's versions
    in `frame` (`versions`: the rows that are versions, kept or superseded) from which the statement is unchanged, and
    `spans`, whether that run reaches back to the record's oldest version here (then staging_changes carries the date
    of the statement staged before, when it is the same). A contact export states its consent as of its drop day and
    repeats it every day: dated by each day's drop, an opt-in never aged into re-permission and a repeated `no` beat
    a dated opt-in given since, every day."""
    slots = _statements(source, frame) if "_drop" in frame else {}
    if not slots:
        return {}
    rows = frame[versions & frame["_record_id"].notna()]
    ordered = oldest_to_newest(source, rows[["_record_id", "_file", "_line"]], rows).sort_values(
        "_record_id", kind="stable")
    record = ordered["_record_id"]
    first = record.ne(record.shift())
    drop = _drop_days(frame).loc[ordered.index]
    out = {}
    for slot, stated in slots.items():
        said = stated.loc[ordered.index].fillna("\0")
        run = (first | said.ne(said.shift())).cumsum()
        out[slot] = pd.DataFrame({"since": drop.groupby(run).transform("first"),
                                  "spans": run.eq(run.groupby(record).transform("first"))}) \
            .reindex(frame.index).fillna({"spans": False}).assign(since=lambda d: d["since"].fillna(_drop_days(frame)))
    return out


def _bounced_at(source: Source, frame: pd.DataFrame) -> pd.Series:
    """When each record says its own e-mail bounced (BOUNCED, on the e-mail channel: a mailing tool's `cleaned`
    status as a consent action, or in an e-mail consent column); NaT when it does not."""
    def bounced(cells: pd.Series) -> pd.Series:
        return _per_distinct(cells, lambda v: _consent_key(v) in BOUNCED).astype(bool)

    when = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if source.activity_type == "consent" and "consent_action" in (*source.activity, *source.activity_values):
        channel = _channels(_activity_col(frame, source, "consent_channel"))
        said = bounced(_activity_col(frame, source, "consent_action")) & channel.eq("email")
        if said.any():
            dated, _ = values.parse_datetimes(_activity_col(frame, source, "occurred_at"), source.date_formats)
            when = when.where(~said, pd.to_datetime(dated).fillna(_drop_days(frame)))
    if (spec := source.consent.get("email")) is not None and spec.true_means is None:
        when = when.where(~bounced(_col(frame, spec.column)) | when.notna(), _drop_days(frame))
    return when


def _drop_days(frame: pd.DataFrame) -> pd.Series:
    """Each row's drop day (its delivery), as a timestamp."""
    return pd.to_datetime(frame["_drop"], errors="coerce") if "_drop" in frame else pd.Series(pd.NaT, index=frame.index)


def purged_columns(source: Source, columns) -> list[str]:
    """The source's identifying columns among `columns`: where the purge leaves PURGED_TOKEN."""
    return [c for f in ("full_name", *IDENTIFYING) if (c := source.person.get(f)) and isinstance(c, str) and c in columns]


def mask_purged(source: Source, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw rows with the purge's token taken out of their identifying columns (in place)."""
    for column in purged_columns(source, frame.columns):
        frame[column] = frame[column].mask(frame[column] == PURGED_TOKEN)
    return frame


def stage_source(source: Source, raw: pd.DataFrame, today: date, lookup: NormalisedValues | None = None) -> Staged:
    """Normalise one source's raw rows; each row is staged or quarantined, never both, never neither. `lookup`
    holds values normalised before (by default an empty one that is not kept)."""
    return stage_prepared(source, prepare(source, raw), today, lookup)


def prepare(source: Source, raw: pd.DataFrame) -> pd.DataFrame:
    """The raw rows with `_record_id`, `_purged` and the trimmed mapped columns (CLEANED) added, the purge's token
    taken out (staging_read.prepared_rows reads the same in DuckDB)."""
    frame = raw.copy()
    frame["_record_id"] = unmarked(_col(frame, source.record_id), source.missing_values)
    columns = purged_columns(source, frame.columns)
    frame["_purged"] = frame[columns].eq(PURGED_TOKEN).any(axis=1) if columns else False
    mask_purged(source, frame)
    for column in source.mapped_columns:  # trimmed once, read by every _col (quarantine keeps the raw values)
        if column in frame.columns:
            frame[CLEANED + column] = unmarked(_col(frame, column), source.missing_values)
    return frame


def unmarked(values: pd.Series, marks: tuple[str, ...]) -> pd.Series:
    """Trimmed cells holding one of the source's marks of 'no value' (Source.missing_values: `NULL`, `None`) read
    as missing (staging_read.prepared_query does the same in DuckDB)."""
    return values.where(~values.isin(marks), None) if marks else values


def stage_prepared(source: Source, frame: pd.DataFrame, today: date, lookup: NormalisedValues | None = None,
                   raw_rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                   renamed: dict[str, list[str]] | None = None) -> Staged:
    """stage_source on rows already prepared: `_record_id`, `_purged` and the trimmed mapped columns (CLEANED) beside
    the meta columns. `raw_rows` gives the raw values of the rows to quarantine (masked as by mask_purged), when the
    frame does not carry them (staging_read.py reads only the trimmed columns); `renamed`: staging_renamed.renamed_files."""
    reason = _row_rejections(source, frame, renamed)
    bad = reason.notna()
    since = _stated_since(source, frame, reason.isna() | reason.str.startswith(SUPERSEDED_REASON, na=False))
    quarantine = quarantine_rows(source, (raw_rows or (lambda rows: rows))(frame[bad]), reason[bad])
    good = frame.take(np.flatnonzero(~bad.to_numpy()))  # a new frame (`[~bad].copy()` copied it twice: ~0.3 CPU s a million rows)
    issues = _Issues(source, good)
    updated, why = values.parse_datetimes(_col(good, source.updated_at), source.date_formats)
    # A record that carries no date (a plain CRM export: no update date, no activity date; or a CRM whose update
    # date is empty or unreadable in that row) was seen on its delivery day: without that, its person has no
    # last-seen date and retention purged them on the first run, for good. A source with activity dates is judged
    # on them, as retention means "no interaction". The record's own date stays apart: a record of unknown age must
    # not outrank a dated one in survivorship. A mailing list's row that carries no consent event (`pending`, an empty
    # status: _person_consent) has no activity to judge: it is seen on its delivery day too (it was purged by retention).
    # An activity whose date is empty or unreadable (a field issue: an Arabic CRM's order dated '١٢/١٠/٢٠٢٦' until the
    # seventeenth session) judges nothing: its record was given no date at all, and retention purged the person on
    # the first run. The activities are staged first for that (their field issues still listed after the person's).
    activity_issues = _Issues(source, good)
    activities = _stage_activities(source, good, activity_issues, since) if source.activity else None
    good["_updated_at"] = pd.to_datetime(updated)
    if "_drop" not in good:
        good["_delivered_at"] = pd.NaT
    else:
        judged = _has_event(source, good, activities) if source.activity.get("occurred_at") \
            else pd.Series(False, index=good.index)
        good["_delivered_at"] = _drop_days(good).where(good["_updated_at"].isna() & ~judged)
    issues.add("updated_at", _col(good, source.updated_at), why)
    persons, contacts = _stage_persons(source, good, issues, today, lookup or NormalisedValues()) \
        if source.has_person else (None, None)
    if persons is not None:
        persons["email_bounced_at"] = _bounced_at(source, good).to_numpy()
    issues.parts += activity_issues.parts
    if source.consent:
        activities = pd.concat([f for f in (activities, _consent_columns(source, good, issues, since))
                                if f is not None], ignore_index=True)
    if source.is_erasure:  # identifiers to forget: never linked, never published
        persons["record_updated_at"] = persons["record_updated_at"].fillna(persons["record_delivered_at"])
        erasure = persons[["source", "source_record_id", "record_updated_at", "email_key", "phone", "_file", "_line"]]
        return Staged(persons=None, activities=None, field_issues=issues.frame_out(), quarantine=quarantine,
                      erasure_requests=erasure.rename(columns={"record_updated_at": "requested_at"}))
    return Staged(persons=persons, activities=activities, field_issues=issues.frame_out(), quarantine=quarantine,
                  contacts=contacts)


# Column types of the staging tables (also typing them when a run stages nothing).
PERSON_TYPES = {
    "source": "VARCHAR", "source_record_id": "VARCHAR", "channel": "VARCHAR", "trust_rank": "INTEGER",
    "record_updated_at": "TIMESTAMP", "record_delivered_at": "TIMESTAMP",
    "first_name": "VARCHAR", "first_name_norm": "VARCHAR", "first_name_canonical": "VARCHAR",
    "last_name": "VARCHAR", "last_name_norm": "VARCHAR", "birth_date": "DATE",
    "email": "VARCHAR", "email_valid": "BOOLEAN", "email_key": "VARCHAR",
    "phone": "VARCHAR", "phone_valid": "BOOLEAN", "phone_kind": "VARCHAR",
    "street": "VARCHAR", "street_norm": "VARCHAR", "postcode": "VARCHAR", "postcode_valid": "BOOLEAN",
    "city": "VARCHAR", "city_norm": "VARCHAR", "state": "VARCHAR", "country": "VARCHAR", "civility": "VARCHAR",
    "identifiers": "VARCHAR", "email_bounced_at": "TIMESTAMP", **{f"{f}_raw": "VARCHAR" for f in RAW_KEPT},
    "_file": "VARCHAR", "_line": "BIGINT",
}
ACTIVITY_TYPES = {
    "source": "VARCHAR", "source_record_id": "VARCHAR", "channel": "VARCHAR", "activity_type": "VARCHAR",
    "person_source": "VARCHAR", "person_record_id": "VARCHAR", "occurred_at": "TIMESTAMP",
    "closed_at": "TIMESTAMP", "amount": "DOUBLE", "currency": "VARCHAR", "quantity": "INTEGER", "rating": "INTEGER",
    "status": "VARCHAR", "category": "VARCHAR", "store_id": "VARCHAR", "device_id": "VARCHAR",
    "collection_point": "VARCHAR", "consent_channel": "VARCHAR", "consent_action": "VARCHAR",
    "_file": "VARCHAR", "_line": "BIGINT",
}
FIELD_ISSUE_TYPES = {"source": "VARCHAR", "source_record_id": "VARCHAR", "field": "VARCHAR",
                     "raw_value": "VARCHAR", "reason": "VARCHAR", "_file": "VARCHAR", "_line": "BIGINT"}
ERASURE_TYPES = {"source": "VARCHAR", "source_record_id": "VARCHAR", "requested_at": "TIMESTAMP",
                 "email_key": "VARCHAR", "phone": "VARCHAR", "_file": "VARCHAR", "_line": "BIGINT"}
# staging.person_contacts: a record's further e-mails and phones (Source.more_contacts; a selector's further elements).
# `contact_key` is what golden.contact_points keys a point by (e-mail match key, E.164 phone), NULL when invalid.
CONTACT_TYPES = {"source": "VARCHAR", "source_record_id": "VARCHAR", "kind": "VARCHAR", "source_column": "VARCHAR",
                 "value": "VARCHAR", "valid": "BOOLEAN", "contact_key": "VARCHAR", "phone_kind": "VARCHAR",
                 "raw": "VARCHAR", "_file": "VARCHAR", "_line": "BIGINT"}
QUARANTINE_TYPES = {"source": "VARCHAR", "_file": "VARCHAR", "_line": "BIGINT", "source_record_id": "VARCHAR",
                    "reason": "VARCHAR", "raw_record": "VARCHAR"}
