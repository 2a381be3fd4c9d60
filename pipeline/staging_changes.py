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

from pipeline.config import Source
from pipeline.sql import quote, raw_table
from pipeline.staging import (
    ACTIVITY_TYPES,
    DELETED_REASON,
    ERASURE_TYPES,
    FIELD_ISSUE_TYPES,
    PERSON_TYPES,
    QUARANTINE_TYPES,
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
          "erasure_requests": ("erasure_requests", ERASURE_TYPES)}
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
    return hashlib.sha256(f"{source!r}|{NORMALISATION_VERSION}{deleted}".encode()).hexdigest()[:16]


def _create_tables(con: duckdb.DuckDBPyConnection, fresh: bool) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    for table, (_, types) in TABLES.items():
        columns = ", ".join(f"{quote(c)} {t}" for c, t in types.items())
        verb = "CREATE OR REPLACE TABLE" if fresh else "CREATE TABLE IF NOT EXISTS"
        con.execute(f"{verb} staging.{table} ({columns})")
    con.execute("""CREATE TABLE IF NOT EXISTS staging.staged_files (
        source VARCHAR, file VARCHAR, sha256 VARCHAR, fingerprint VARCHAR, staged_at TIMESTAMP)""")
    # Set by the blocking validation check once the file's person records passed it (see assets/quality.py).
    con.execute("ALTER TABLE staging.staged_files ADD COLUMN IF NOT EXISTS validated BOOLEAN DEFAULT false")


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
    with registered(con, _fresh=fresh):
        stopped = _stopped_by_rename(con, source, versions, renamed)  # a tombstone erases the record anyway
        # A tombstone kept in quarantine is its record's newest version until a later version supersedes it.
        versions += (" UNION SELECT source_record_id, _file, _line FROM staging.quarantine WHERE source = $source "
                     "AND reason = $deleted AND source_record_id IN (SELECT source_record_id FROM _fresh)")
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
                               {"source": source.name, "deleted": DELETED_REASON}).df()
    rows = oldest_to_newest(source, rows)
    newest = rows.drop_duplicates("_record_id", keep="last")
    losers = rows.drop(newest.index)
    kept = newest.set_index("_record_id")
    losers["reason"] = losers["_record_id"].map(
        lambda r: SUPERSEDED_BY.format(kept=f"{kept.at[r, '_file']}:{kept.at[r, '_line']}"))
    losers = pd.concat([losers[["_file", "_line", "reason"]], stopped], ignore_index=True)
    if losers.empty:
        return
    con.register("_losers", losers)
    raw = con.execute(f"SELECT r.*, l.reason FROM {raw_table(source.name)} r JOIN _losers l USING (_file, _line)").df()
    raw["_record_id"] = raw[source.record_id].astype(object)
    quarantined = quarantine_rows(source, raw.drop(columns=["reason"]), raw["reason"])
    for table in (*VERSIONED, "field_issues"):
        con.execute(f"DELETE FROM staging.{table} WHERE source = ? AND (_file, _line) IN "
                    "(SELECT (_file, _line) FROM _losers)", [source.name])
    con.execute("DELETE FROM staging.quarantine WHERE source = ? AND reason = ? AND (_file, _line) IN "
                "(SELECT (_file, _line) FROM _losers)", [source.name, DELETED_REASON])
    con.unregister("_losers")
    insert(con, Staged(persons=None, activities=None, field_issues=None, quarantine=quarantined))


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
                  full_refresh: bool = False) -> list[SourceChange]:
    """Stage what changed in raw since the last run (or everything); one transaction for all sources."""
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
            if not new and not full:
                changes.append(SourceChange(source.name, "none"))
                continue
            if full:
                for table in TABLES:
                    con.execute(f"DELETE FROM staging.{table} WHERE source = ?", [source.name])
                con.execute("DELETE FROM staging.staged_files WHERE source = ?", [source.name])
            files = sorted(f for f, _ in new)
            insert = _CountingInsert(dict(con.execute(f"SELECT file, drop FROM {raw_table(source.name, files=True)}")
                                          .fetchall()))
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
                _supersede(con, source, ids, insert, renamed)
            con.execute("INSERT INTO staging.staged_files (source, file, sha256, fingerprint, staged_at) "
                        "SELECT ?, file, sha256, ?, now() FROM "
                        f"(SELECT file, sha256 FROM {raw_table(source.name, files=True)} WHERE status NOT LIKE 'duplicate of%') "
                        "WHERE (file, sha256) NOT IN (SELECT (file, sha256) FROM staging.staged_files WHERE source = ?)",
                        [source.name, fingerprint(source), source.name])
            changes.append(SourceChange(source.name, "full" if full else "new files", len(new), rows,
                                        insert.superseded, insert.same_drop))
        lookup.save()
    return changes
