"""Bring the staging tables up to date with raw: stage only the files not staged yet.

`staging.staged_files` remembers which raw files (name and SHA-256) each source's staged rows came from,
and a fingerprint of the source's mapping and of the normalisation code (staging_lookup.VERSION). Per source:
- nothing new: nothing to do;
- new files only (the daily case): stage their rows and append them; a record id delivered again
  supersedes its earlier version, which moves to quarantine, as a full restage would do;
- a file gone or changed, a changed mapping or normalisation code, or a full refresh: restage the source from all
  its raw rows.
Everything happens in one transaction: a crash leaves the previous staging intact.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from functools import partial

import duckdb
import pandas as pd

from pipeline.config import CONTACT_KINDS, SELECTOR, Settings, Source
from pipeline.delivery_history import earlier_files
from pipeline.export_parts import missing_parts
from pipeline.extract import DUPLICATE_OF, LOADED_BUT, TRAILER_FLAW, TRAILER_LOST
from pipeline.sql import quote, raw_table
from pipeline.staging import (
    ABSENT_REASON,
    ACTIVITY_TYPES,
    CONTACT_TYPES,
    DELETED_REASON,
    ERASURE_TYPES,
    FIELD_ISSUE_TYPES,
    PERSON_TYPES,
    QUARANTINE_TYPES,
    RESTATED,
    RETIRED_REASONS,
    SUPERSEDED_BY,
    Staged,
    oldest_to_newest,
    quarantine_rows,
    stage_prepared,
)
from pipeline.staging_activities import in_sql, stage_activities
from pipeline.staging_lookup import TABLE as LOOKUP_TABLE
from pipeline.staging_lookup import VERSION as NORMALISATION_VERSION
from pipeline.staging_lookup import NormalisedValues
from pipeline.staging_read import prepared_rows, raw_columns, raw_rows
from pipeline.staging_renamed import erased_by_rename, renamed_files
from pipeline.warehouse import registered, table_exists, transaction

TABLES = {"person_records": ("persons", PERSON_TYPES), "activities": ("activities", ACTIVITY_TYPES),
          "field_issues": ("field_issues", FIELD_ISSUE_TYPES), "quarantine": ("quarantine", QUARANTINE_TYPES),
          "erasure_requests": ("erasure_requests", ERASURE_TYPES), "person_contacts": ("contacts", CONTACT_TYPES)}
# The full deliveries' exports believed (`_retire_absent`): source, drop day, records held. Kept across full restages,
# as staged_files is: an export an operator let through stays believed.
FULL_EXPORTS = "staging.full_exports"
# The e-mails and phones (hashed as identity.erasure_registry hashes them) a record's earlier versions held and its
# staged version no longer does, with the hash of that version's first name and surname: an erasure request naming
# one erases the record's customer while the record still carries those names (golden/privacy.py), so a person whose
# shop account came back with a new e-mail before or after their request is not kept as a customer, while an account
# handed over to someone else (another name) is the new holder's.
# Filled as versions leave staging (superseded, retired) and at a full restage; never emptied but by the purge.
FORMER_IDENTIFIERS = "staging.former_identifiers"
HELD_SQL = """
WITH named AS (  -- a version without both names cannot say the record is still its person's: it keeps none
    SELECT *, sha256(first_name_canonical || ':' || last_name_norm) AS name_hash FROM staging.person_records
    WHERE source = $source AND (_file, _line) IN {rows}
      AND first_name_canonical IS NOT NULL AND last_name_norm IS NOT NULL)
SELECT DISTINCT source, source_record_id, kind, identifier_hash, name_hash FROM (
    SELECT source, source_record_id, 'email' AS kind, sha256('email:' || email_key) AS identifier_hash, name_hash
    FROM named WHERE email_key IS NOT NULL
    UNION ALL
    SELECT source, source_record_id, 'phone', sha256('phone:' || phone), name_hash FROM named WHERE phone IS NOT NULL
    UNION ALL
    SELECT c.source, c.source_record_id, c.kind, sha256(c.kind || ':' || c.contact_key), n.name_hash
    FROM staging.person_contacts c JOIN named n USING (source, _file, _line) WHERE c.contact_key IS NOT NULL)"""


def _keep_former(con: duckdb.DuckDBPyConnection, source: Source, rows: str) -> None:
    """The identifiers the staged rows `rows` (a relation of (_file, _line)) hold, kept as former ones."""
    con.execute(f"""INSERT INTO {FORMER_IDENTIFIERS} SELECT * FROM ({HELD_SQL.format(rows=rows)})
                    WHERE (source_record_id, identifier_hash) NOT IN (
                        SELECT (source_record_id, identifier_hash) FROM {FORMER_IDENTIFIERS} WHERE source = $source)""",
                {"source": source.name})


def _drop_held(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """A former identifier the record's staged version holds again (or still, after a full restage) is no former one
    (only the records with former identifiers are read)."""
    rows = (f"(SELECT (_file, _line) FROM staging.person_records WHERE source = $source AND source_record_id IN "
            f"(SELECT source_record_id FROM {FORMER_IDENTIFIERS} WHERE source = $source))")
    con.execute(f"""DELETE FROM {FORMER_IDENTIFIERS} WHERE source = $source AND (source_record_id, identifier_hash) IN (
                    SELECT (source_record_id, identifier_hash) FROM ({HELD_SQL.format(rows=rows)}))""",
                {"source": source.name})


# Tables holding staged rows keyed by the source's record id (a newer version supersedes an older one).
VERSIONED = ("person_records", "activities", "erasure_requests")


@dataclass
class SourceChange:
    source: str
    mode: str  # none | new files | full | removed from the sources file
    files: int = 0
    rows: int = 0
    superseded: int = 0
    same_drop: int = 0  # of them, kept out by another file of the same drop day (ids repeating across files?)
    retired: int = 0  # records its newest full export omits (`delivery: full`), retired this run
    doubted: str | None = None  # why its newest full export retired nothing (`_retire_absent`)


_KEPT_AT = re.compile("^" + re.escape(SUPERSEDED_BY).replace(re.escape("{kept}"), r"(.+):\d+") + "$")


@dataclass
class _CountingInsert:
    """`_insert` that counts the superseded versions it quarantines (each staging path quarantines them its own way:
    in pandas, in SQL, or against earlier drops), and those whose kept version is another file of the same drop day:
    a newer version arrives in a later drop, so two files of one day sharing ids are more likely two numberings
    (each store counting from 1) than two versions, and the older-looking one left staging without a word."""
    drops: dict[str, str]  # raw file -> its drop day
    superseded: int = 0
    same_drop: int = 0

    def __call__(self, con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
        quarantined = staged.quarantine
        if quarantined is not None and len(quarantined):
            kept = quarantined["reason"].astype("string").str.extract(_KEPT_AT, expand=False)
            superseded = kept.notna()
            loser_drop = quarantined["_file"].map(self.drops)
            self.superseded += int(superseded.sum())
            self.same_drop += int((superseded & (kept != quarantined["_file"])
                                   & (kept.map(self.drops) == loser_drop)).sum())
        _insert(con, staged)


def fingerprint(source: Source) -> str:
    """Changes when the source's mapping or the normalisation code changes (its staged rows must then be rebuilt:
    rows staged by older code keep their old forms, 'strau' for 'Strauß', beside new rows staged 'strauss')."""
    deleted = f"|{source.deleted!r}" if source.deleted else ""
    delivery = f"|delivery={source.delivery}" if source.delivery != "delta" else ""
    order = f"|name_order={source.name_order}" if source.name_order != "given_first" else ""
    sheet = f"|sheet={source.sheet!r}" if source.sheet is not None else ""  # another sheet: other raw rows, same files
    # further e-mails and phones: mapped ones, or those of a selector (a field issue each until 2026-11-29)
    contacts = f"|more_contacts={sorted(source.more_contacts.items())}" if source.more_contacts or any(
        isinstance(c, str) and SELECTOR.fullmatch(c) for f, c in source.person.items() if f in CONTACT_KINDS) else ""
    # the marks of 'no value' read as empty (none until 2026-11-29: every source restages once to read them)
    marks = f"|missing_values={list(source.missing_values)}"
    fixed = f"|activity_values={sorted(source.activity_values.items())}" if source.activity_values else ""
    # a consent source restages once to read the flags it quarantined until the fifteenth session (`Y`, `Opted In`)
    # (and, since the sixteenth, the person records it quarantined for a consent cell saying none: `pending`, empty);
    # its own consent columns (`consent:`) when it maps some
    # (and, since the seventeenth, a bounced e-mail's mark: `cleaned`)
    consent = "|consent_words=4" if source.activity_type == "consent" or source.consent else ""
    consent += f"|consent={sorted(source.consent.items())}" if source.consent else ""
    return hashlib.sha256(f"{source!r}|{NORMALISATION_VERSION}{deleted}{delivery}{order}{sheet}{contacts}{marks}"
                          f"{fixed}{consent}".encode()).hexdigest()[:16]


def _create_tables(con: duckdb.DuckDBPyConnection, fresh: bool) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    for table, (_, types) in TABLES.items():
        columns = ", ".join(f"{quote(c)} {t}" for c, t in types.items())
        verb = "CREATE OR REPLACE TABLE" if fresh else "CREATE TABLE IF NOT EXISTS"
        con.execute(f"{verb} staging.{table} ({columns})")
    con.execute("""CREATE TABLE IF NOT EXISTS staging.staged_files (
        source VARCHAR, file VARCHAR, sha256 VARCHAR, fingerprint VARCHAR, staged_at TIMESTAMP)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {FULL_EXPORTS} (
        source VARCHAR, drop VARCHAR, records BIGINT, believed_at TIMESTAMP)""")
    # Set by the blocking validation check once the file's person records passed it (see assets/quality.py).
    con.execute("ALTER TABLE staging.staged_files ADD COLUMN IF NOT EXISTS validated BOOLEAN DEFAULT false")
    # An amount's currency (kept since 2026-11-29): every source is restaged then, its Source having a new field.
    con.execute("ALTER TABLE staging.activities ADD COLUMN IF NOT EXISTS currency VARCHAR")
    con.execute(f"CREATE TABLE IF NOT EXISTS {FORMER_IDENTIFIERS} (source VARCHAR, source_record_id VARCHAR, "
                "kind VARCHAR, identifier_hash VARCHAR, name_hash VARCHAR)")
    # A bounced e-mail's mark (since the seventeenth session of 2026-11-29; consent sources restage to set it).
    con.execute("ALTER TABLE staging.person_records ADD COLUMN IF NOT EXISTS email_bounced_at TIMESTAMP")
    # A record's state or province (kept since the seventeenth session): a warehouse staged before gains the column.
    for column in ("state", "state_raw"):
        con.execute(f"ALTER TABLE staging.person_records ADD COLUMN IF NOT EXISTS {column} VARCHAR")


def _insert(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    for table, (attr, types) in TABLES.items():
        frame = getattr(staged, attr)
        if frame is None or not len(frame):
            continue
        frame = frame.copy()
        for column in types:
            if column not in frame.columns:
                frame[column] = None
        select = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in types.items())
        con.register("_staged", frame)
        con.execute(f"INSERT INTO staging.{table} BY NAME SELECT {select} FROM _staged")
        con.unregister("_staged")


def staged_ids(staged: Staged) -> pd.DataFrame:
    """The record ids `staged` holds (column source_record_id), each once."""
    ids = [frame["source_record_id"] for frame in (staged.persons, staged.activities, staged.erasure_requests)
           if frame is not None and len(frame)]
    if staged.quarantine is not None and len(staged.quarantine):  # tombstones: versions of their record id too
        ids.append(staged.quarantine.loc[staged.quarantine["reason"].eq(DELETED_REASON), "source_record_id"])
    return pd.concat(ids, ignore_index=True).drop_duplicates().to_frame() if ids else \
        pd.DataFrame({"source_record_id": []}, dtype=object)


def _carry_statements(con: duckdb.DuckDBPyConnection, source: Source, staged: Staged, files: list[str]) -> None:
    """An undated consent statement (a contact export's `consent:` column, an undated consent row) its record's
    version staged before (an earlier run's file) made alike keeps that version's date: the day it was first stated,
    not each re-delivery's (staging._stated_since does the same within the files staged together)."""
    events = staged.activities
    if events is None or RESTATED not in events or not events[RESTATED].eq(True).any():
        return
    restated = events.loc[events[RESTATED].eq(True), ["source_record_id", "consent_channel", "consent_action",
                                                      "_file", "_line"]]
    with registered(con, _restated=restated, _new=pd.DataFrame({"file": files})):
        con.execute("""
        UPDATE staging.activities a SET occurred_at = e.occurred_at
        FROM (SELECT r._file, r._line, r.consent_channel, r.consent_action, min(o.occurred_at) AS occurred_at
              FROM _restated r JOIN staging.activities o
                ON o.source = $source AND o.activity_type = 'consent' AND o.source_record_id = r.source_record_id
               AND o.consent_channel = r.consent_channel AND o.consent_action = r.consent_action
              WHERE o._file NOT IN (SELECT file FROM _new)
              GROUP BY ALL) e
        WHERE a.source = $source AND a.activity_type = 'consent' AND a._file = e._file AND a._line = e._line
          AND a.consent_channel = e.consent_channel AND a.consent_action = e.consent_action
          AND e.occurred_at < a.occurred_at""", {"source": source.name})


def _supersede(con: duckdb.DuckDBPyConnection, source: Source, fresh: pd.DataFrame,
               insert: _CountingInsert, renamed: dict[str, list[str]]) -> None:
    """Older versions of a record id (staging.version_dates, then file and line) leave staging for quarantine. Only the record ids
    just staged (`fresh`: the new files' rows) can have two versions: every earlier run left one version of each. Each
    table is read for those ids only (a union of the source's every staged row cost ~0.05 CPU s a source at 1M).
    A version of a file whose export renamed a key (`renamed`) leaves instead when it would erase an earlier value."""
    if fresh.empty:
        return
    versions = " UNION ".join(f"SELECT source_record_id, _file, _line FROM staging.{t} WHERE source = $source "
                              "AND source_record_id IN (SELECT source_record_id FROM _fresh)" for t in VERSIONED)
    params = {"source": source.name}
    with registered(con, _fresh=fresh):
        stopped = _stopped_by_rename(con, source, versions, renamed)  # a tombstone erases the record anyway
        if source.deletes:  # a retired record's row kept in quarantine (a tombstone, or its last version a full export
            # omitted) is its record's newest version until a later version supersedes it
            versions += (" UNION SELECT source_record_id, _file, _line FROM staging.quarantine WHERE source = $source "
                         "AND list_contains($retired, reason) AND source_record_id IN (SELECT source_record_id FROM _fresh)")
            params["retired"] = list(RETIRED_REASONS)
        if len(stopped):
            versions = f"SELECT * FROM ({versions}) WHERE (_file, _line) NOT IN (SELECT (_file, _line) FROM _stopped)"
        # The versions of the ids held twice, with what orders them (version_dates: update date, else drop day)
        updated = f", r.{quote(source.updated_at)}" if source.updated_at in raw_columns(con, source) else ""
        with registered(con, _stopped=stopped[["_file", "_line"]]):
            rows = con.execute(f"""
            WITH versions AS ({versions})
            SELECT v.source_record_id AS _record_id, v._file, v._line, r._drop{updated}
            FROM versions v JOIN {raw_table(source.name)} r USING (_file, _line)
            WHERE v.source_record_id IN (SELECT source_record_id FROM versions GROUP BY ALL HAVING count(*) > 1)""",
                               params).df()
    rows = oldest_to_newest(source, rows)
    newest = rows.drop_duplicates("_record_id", keep="last")
    losers = rows.drop(newest.index)
    kept = newest.set_index("_record_id")
    losers["reason"] = losers["_record_id"].map(
        lambda r: SUPERSEDED_BY.format(kept=f"{kept.at[r, '_file']}:{kept.at[r, '_line']}"))
    _quarantine(con, source, pd.concat([losers[["_file", "_line", "reason"]], stopped], ignore_index=True), insert)


def _quarantine(con: duckdb.DuckDBPyConnection, source: Source, losers: pd.DataFrame,
                insert: _CountingInsert) -> None:
    """Staged rows (`losers`: _file, _line, reason) leave staging for quarantine, each with its reason, as their raw
    rows (a row already quarantined as retired is quarantined again under its new reason)."""
    if losers.empty:
        return
    con.register("_losers", losers)
    _keep_former(con, source, "(SELECT (_file, _line) FROM _losers)")
    raw = con.execute(f"SELECT r.*, l.reason FROM {raw_table(source.name)} r JOIN _losers l USING (_file, _line)").df()
    raw["_record_id"] = raw[source.record_id].astype(object)
    quarantined = quarantine_rows(source, raw.drop(columns=["reason"]), raw["reason"])
    for table in (*VERSIONED, "field_issues", "person_contacts"):
        con.execute(f"DELETE FROM staging.{table} WHERE source = ? AND (_file, _line) IN "
                    "(SELECT (_file, _line) FROM _losers)", [source.name])
    if source.deletes:  # a retired row now a superseded version
        con.execute("DELETE FROM staging.quarantine WHERE source = ? AND list_contains(?, reason) AND (_file, _line) "
                    "IN (SELECT (_file, _line) FROM _losers)", [source.name, list(RETIRED_REASONS)])
    con.unregister("_losers")
    insert(con, Staged(persons=None, activities=None, field_issues=None, quarantine=quarantined))


@dataclass
class Retirement:
    """What a full delivery's newest export did: the records it retired, or why it was not believed."""
    retired: int = 0
    doubted: str | None = None  # why nothing was retired: counts and days only


def _retire_absent(con: duckdb.DuckDBPyConnection, source: Source, insert: _CountingInsert,
                   max_shrink: float) -> Retirement:
    """A full delivery's records that its newest export omits leave staging (ABSENT_REASON).

    The newest export is the newest drop day that staged a record: a day whose files hold none (an empty or
    header-only export, every file refused) is a failed export, not the deletion of every record. A record is in
    an export when any row of that day carries its id, staged or quarantined (a version quarantined as bad data is
    still the source saying the record exists). An export holding fewer records than `max_shrink` allows against the
    last export believed (FULL_EXPORTS; the export before it, before any was) is not believed: nothing is retired
    and `doubted` says why. So two exports cut short one after the other retire nothing either, and an operator who
    knows the deletions are real runs once with a larger `max_shrink` (C360_MAX_SHRINK), as for the published
    copies' shrink guard: that export is then believed for good. Every other input is the staged tables, so the
    incremental path and a full restage retire the same records."""
    staged = " UNION ALL ".join(f"SELECT source_record_id, _file, _line FROM staging.{t} WHERE source = $source"
                                for t in VERSIONED)
    days = " UNION ALL ".join(f"SELECT DISTINCT _file FROM staging.{t} WHERE source = $source" for t in VERSIONED)
    # A file's day, and the day of each copy of it skipped (an export's file unchanged since an earlier day holds its
    # records that day too: they were retired, or the shrink guard stopped every such day)
    drops = (f"SELECT file AS _file, CAST(drop AS VARCHAR) AS drop FROM {raw_table(source.name, files=True)} UNION "
             f"SELECT substr(status, {len(DUPLICATE_OF) + 1}) AS _file, CAST(drop AS VARCHAR) AS drop FROM "
             f"{raw_table(source.name, files=True)} WHERE starts_with(status, $duplicate)")
    params = {"source": source.name, "duplicate": DUPLICATE_OF}
    held = dict(con.execute(f"""
        WITH drops AS ({drops}),
        export_days AS (SELECT DISTINCT d.drop FROM ({days}) f JOIN drops d USING (_file)),
        rows AS (SELECT source_record_id, _file FROM ({staged})
                 UNION ALL SELECT source_record_id, _file FROM staging.quarantine WHERE source = $source)
        SELECT d.drop, count(DISTINCT r.source_record_id) FROM rows r JOIN drops d USING (_file)
        WHERE d.drop IN (SELECT drop FROM export_days) GROUP BY 1""", params).fetchall())
    if not held:
        return Retirement()
    newest = max(held)
    cut, lost = con.execute(f"SELECT count(*) FILTER (NOT contains(status, $lost)), count(*) FILTER (contains(status, "
                            f"$lost)) FROM {raw_table(source.name, files=True)} WHERE CAST(drop AS VARCHAR) = $newest "
                            "AND starts_with(status, $flaw)",
                            {"lost": TRAILER_LOST, "newest": newest, "flaw": LOADED_BUT + TRAILER_FLAW}).fetchone()
    if cut:  # its trailer says a file of it is incomplete: what it omits may be in the part that never came
        return Retirement(doubted=f"its full export of {newest} holds {cut} file(s) whose trailer counts other than "
                                  "their records (cut short?), read as incomplete, so no record is retired; deliver "
                                  "the whole file")
    if lost:  # the source's files end in a trailer: one without it may have lost its end with it
        return Retirement(doubted=f"its full export of {newest} holds {lost} file(s) without the trailer the source's "
                                  "files carry (a transfer cut short?), read as incomplete, so no record is retired; "
                                  "deliver the whole file")
    files = [f for (f,) in con.execute(f"SELECT file FROM {raw_table(source.name, files=True)} "
                                       "WHERE CAST(drop AS VARCHAR) = ?", [newest]).fetchall()]
    # a part still to come holds records the others omit (fewer than the earlier days' parts: the last one late?)
    if gaps := missing_parts(files, earlier_files(con, source, newest)):
        return Retirement(doubted=f"its full export of {newest} is in numbered parts with some missing "
                                  f"({'; '.join(gaps)}), read as incomplete, so no record is retired until they come")
    believed = dict(con.execute(f"SELECT drop, records FROM {FULL_EXPORTS} WHERE source = ?", [source.name]).fetchall())
    if newest not in believed:
        earlier = [d for d in believed if d < newest] or [d for d in held if d < newest]
        last = max(earlier, default=None)
        before = believed.get(last, held.get(last))
        if last and held[newest] < (1 - max_shrink) * before:
            return Retirement(doubted=f"its full export of {newest} holds {held[newest]} records against {before} in "
                                      f"the one of {last}: more than {max_shrink:.0%} fewer, read as incomplete (cut "
                                      "short, a file missing?), so no record is retired; if the deletions are real, "
                                      "run once with C360_MAX_SHRINK=1")
        con.execute(f"INSERT INTO {FULL_EXPORTS} VALUES (?, ?, ?, now())", [source.name, newest, held[newest]])
    losers = con.execute(f"""
        WITH drops AS ({drops}),
        staged AS (SELECT s.*, d.drop FROM ({staged}) s JOIN drops d USING (_file)),
        present AS (SELECT source_record_id FROM staged WHERE drop = $newest
                    UNION
                    SELECT q.source_record_id FROM staging.quarantine q JOIN drops d USING (_file)
                    WHERE q.source = $source AND d.drop = $newest)
        SELECT DISTINCT _file, _line, $reason AS reason FROM staged
        WHERE drop < $newest
          AND source_record_id NOT IN (SELECT source_record_id FROM present WHERE source_record_id IS NOT NULL)
        ORDER BY ALL""", {**params, "newest": newest, "reason": ABSENT_REASON}).df()
    _quarantine(con, source, losers, insert)
    return Retirement(retired=len(losers))


def _stopped_by_rename(con: duckdb.DuckDBPyConnection, source: Source, versions: str,
                       renamed: dict[str, list[str]]) -> pd.DataFrame:
    """_file, _line, reason of the versions (the SQL `versions`) that would erase an earlier value (staging_renamed)."""
    keys = sorted({k for ks in renamed.values() for k in ks} & (raw_columns(con, source) if renamed else set()))
    if not keys:
        return pd.DataFrame({"_file": [], "_line": [], "reason": []}).astype({"_file": object, "_line": "int64",
                                                                             "reason": object})
    values = ", ".join(f"nullif(trim(r.{quote(k)}), '') AS {quote(k)}" for k in keys)
    rows = con.execute(f"SELECT v.source_record_id AS _record_id, v._file, v._line, {values} FROM ({versions}) v "
                       f"JOIN {raw_table(source.name)} r USING (_file, _line)", {"source": source.name}).df()
    rows["reason"] = erased_by_rename(rows, renamed, lambda key: key)
    return rows.loc[rows["reason"].notna(), ["_file", "_line", "reason"]].reset_index(drop=True)


def _files(con: duckdb.DuckDBPyConnection, source: Source) -> tuple[set, set, set]:
    """Raw files with rows now; files staged so far; the fingerprints they were staged with."""
    current = set(con.execute(f"SELECT file, sha256 FROM {raw_table(source.name, files=True)} "
                              "WHERE status NOT LIKE 'duplicate of%'").fetchall())
    staged = con.execute("SELECT file, sha256, fingerprint FROM staging.staged_files WHERE source = ?",
                         [source.name]).fetchall()
    return current, {(f, s) for f, s, _ in staged}, {p for _, _, p in staged}


def _forget_removed_sources(con: duckdb.DuckDBPyConnection, sources: list[Source]) -> list[SourceChange]:
    """A source taken out of (or renamed in) the sources file leaves staging, hence identity and the marts:
    its raw rows stay in raw.<old name> until an operator drops them."""
    names = [s.name for s in sources]
    gone = [r[0] for r in con.execute("SELECT DISTINCT source FROM staging.staged_files "
                                      "WHERE NOT list_contains(?::VARCHAR[], source) ORDER BY 1", [names]).fetchall()]
    for name in gone:
        for table in (*TABLES, "staged_files"):
            con.execute(f"DELETE FROM staging.{table} WHERE source = ?", [name])
    return [SourceChange(name, "removed from the sources file") for name in gone]


def stage_changes(con: duckdb.DuckDBPyConnection, sources: list[Source], today: date,
                  full_refresh: bool = False, max_shrink: float = Settings.max_shrink) -> list[SourceChange]:
    """Stage what changed in raw since the last run (or everything); one transaction for all sources. `max_shrink`:
    the share of a full delivery's records one export may omit and still be believed (`_retire_absent`)."""
    fresh = full_refresh or not table_exists(con, "staging.staged_files")
    changes = []
    with transaction(con):
        _create_tables(con, fresh)
        if full_refresh:  # everything normalised afresh (seeds such as street types may have changed)
            con.execute(f"DROP TABLE IF EXISTS {LOOKUP_TABLE}")
        lookup = NormalisedValues(con)
        changes += _forget_removed_sources(con, sources)
        for source in sources:
            current, staged, prints = _files(con, source)
            full = fresh or bool(staged - current) or bool(prints - {fingerprint(source)})
            new = current if full else current - staged
            change = SourceChange(source.name, "full" if full else "new files" if new else "none", len(new))
            if not (new or full or source.delivery == "full"):
                changes.append(change)
                continue
            insert = _CountingInsert(dict(con.execute(f"SELECT file, drop FROM {raw_table(source.name, files=True)}")
                                          .fetchall()))
            if new or full:
                change.rows = _stage_files(con, source, full, sorted(f for f, _ in new), insert, today, lookup)
            # Every run, not only one with new files: a doubted export is retired by a run allowed to believe it.
            if source.delivery == "full":
                retirement = _retire_absent(con, source, insert, max_shrink)
                change.retired, change.doubted = retirement.retired, retirement.doubted
            change.superseded, change.same_drop = insert.superseded, insert.same_drop
            changes.append(change)
        lookup.save()
    return changes


def _stage_files(con: duckdb.DuckDBPyConnection, source: Source, full: bool, files: list[str],
                 insert: _CountingInsert, today: date, lookup: NormalisedValues) -> int:
    """Stage the source's `files` (all its files, its staged rows dropped first, when `full`); the raw rows read."""
    if full:  # what the staged versions hold, kept as former identifiers (those still held are taken out below)
        _keep_former(con, source, "(SELECT (_file, _line) FROM staging.person_records)")
        for table in TABLES:
            con.execute(f"DELETE FROM staging.{table} WHERE source = ?", [source.name])
        con.execute("DELETE FROM staging.staged_files WHERE source = ?", [source.name])
    renamed = renamed_files(con, source)
    if in_sql(source):
        rows, ids = stage_activities(con, source, files, insert)
    else:
        raw = prepared_rows(con, source, files)
        # An erasure request's identifiers are not kept in the lookup: they are to be forgotten.
        staged_rows = stage_prepared(source, raw, today, None if source.is_erasure else lookup,
                                     partial(raw_rows, con, source), renamed)
        insert(con, staged_rows)
        rows, ids = len(raw), staged_ids(staged_rows)
        if not full:
            _carry_statements(con, source, staged_rows, files)
    if not full:
        _supersede(con, source, ids, insert, renamed)
    _drop_held(con, source)
    con.execute("INSERT INTO staging.staged_files (source, file, sha256, fingerprint, staged_at) "
                "SELECT ?, file, sha256, ?, now() FROM "
                f"(SELECT file, sha256 FROM {raw_table(source.name, files=True)} WHERE status NOT LIKE 'duplicate of%') "
                "WHERE (file, sha256) NOT IN (SELECT (file, sha256) FROM staging.staged_files WHERE source = ?)",
                [source.name, fingerprint(source), source.name])
    return rows
