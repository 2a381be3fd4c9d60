"""Web sessions joined to customers: logged in, stitched through the device before login, never across a shared
device; engagement counts the stitched sessions. Small hand-written drops, real Dagster runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings
from pipeline.golden.sessions import STITCHED_SESSIONS_SQL
from tests.conftest import SOURCES_YAML, copy_project, materialise

DAY = "2026-11-20"
PEOPLE = [  # (account, card, first, last, born, e-mail, mobile, street, postcode, city): clean, so every check passes
    ("A1", "C1", "Élodie", "Durand", "1985-03-04", "elodie.durand@gmail.com", "0612345678", "12 bd Haussmann",
     "75009", "Paris"),
    ("A2", "C2", "Marc", "Durand", "1983-07-21", "marc.durand@free.fr", "0698765432", "12 bd Haussmann", "75009",
     "Paris"),
    ("A3", "C3", "Sophie", "Bernard", "1990-11-02", "sophie.bernard@orange.fr", "0611122233", "4 rue Nationale",
     "59800", "Lille"),
    ("A4", None, "Julien", "Moreau", "1978-05-30", "j.moreau@laposte.net", "0644455566", "9 cours Julien", "13006",
     "Marseille"),
    (None, "C5", "Camille", "Roux", "2000-01-15", None, "0677788899", None, None, None),
]

SESSIONS_YAML = """
  - name: web_sessions
    channel: online
    format: jsonl
    files: web_sessions/**/*.jsonl
    record_id: session_id
    date_formats: ["%Y-%m-%dT%H:%M:%S"]
    person_ref: {source: shop_accounts, column: account_id}
    activity:
      type: session
      occurred_at: started_at
      device_id: cookie
"""

# (session, cookie, account, started): A1 (Élodie) and A2 (Marc, her husband) are two different people.
SESSIONS = [
    ("S01", "K-ELODIE", None, "2026-10-01T09:00:00"),   # before Élodie's first login on her laptop
    ("S02", "K-ELODIE", None, "2026-10-02T09:00:00"),   # idem
    ("S03", "K-ELODIE", "A1", "2026-10-03T09:00:00"),   # she logs in
    ("S04", "K-ELODIE", None, "2026-10-20T09:00:00"),   # back later, logged out
    ("S05", "K-ELODIE", None, "2025-01-05T09:00:00"),   # long ago: stitched, but outside the 90 days
    ("S10", "K-TABLET", None, "2026-10-05T20:00:00"),   # the family tablet, before anyone logs in
    ("S11", "K-TABLET", "A1", "2026-10-06T20:00:00"),
    ("S12", "K-TABLET", "A2", "2026-10-07T20:00:00"),
    ("S13", "K-TABLET", None, "2026-10-08T20:00:00"),
    ("S20", "K-NEVER", None, "2026-10-09T12:00:00"),    # a visitor who never logged in
    ("S21", None, None, "2026-10-09T12:00:00"),         # no cookie at all
    ("S30", "K-GHOST", "A404", "2026-10-10T12:00:00"),  # an account id no source holds
]


def _write_people(raw: Path, day: str = DAY) -> None:
    """Web accounts and store cards of the same people, and Élodie's newsletter opt-in then opt-out."""
    accounts, cards = [], ["carte;prenom;nom;naissance;tel;adhesion;points"]
    for account, card, first, last, born, mail, mobile, street, postcode, city in PEOPLE:
        if account:
            accounts.append(json.dumps({"id": account, "given": first, "family": last, "born": born, "mail": mail,
                                        "tel": mobile, "updated": "2026-06-01",
                                        "address": {"street": street, "zip": postcode, "city": city}}))
        if card:
            y, m, d = born.split("-")
            cards.append(f"{card};{first};{last.upper()};{d}/{m}/{y};{mobile};01/06/2024;10,00")
    for source, name, text, encoding in [
            ("shop_accounts", "accounts.jsonl", "\n".join(accounts) + "\n", "utf-8"),
            ("store_cards", "cards.csv", "\n".join(cards) + "\n", "latin-1"),
            ("newsletter", "events.csv", "event_id,email,channel,action,at\n"
             "N1,elodie.durand@gmail.com,email,opt_in,2024-01-01 10:00:00\n"
             "N2,elodie.durand@gmail.com,email,opt_out,2025-01-01 10:00:00\n", "utf-8")]:
        (raw / source / day).mkdir(parents=True, exist_ok=True)
        (raw / source / day / name).write_bytes(text.encode(encoding))


def _write_sessions(raw: Path, sessions=SESSIONS, day: str = DAY) -> None:
    folder = raw / "web_sessions" / day
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for sid, cookie, account, at in sessions:
        row = {"session_id": sid, "cookie": cookie, "started_at": at}
        if account:  # a JSON line without the key: the anonymous visitor's row as the app writes it
            row["account_id"] = account
        lines.append(json.dumps(row))
    (folder / "sessions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def sessions_project(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("sessions")
    _write_people(root / "raw")
    _write_sessions(root / "raw")
    (root / "sources.yaml").write_text(SOURCES_YAML + SESSIONS_YAML, encoding="utf-8")
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=root / "sources.yaml",
                        truth_file=None, as_of="2026-11-24")
    materialise(settings)
    return settings


def _attribution(settings) -> dict[str, tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return {sid: (customer, how) for sid, customer, how in con.execute(
            "SELECT source_record_id, customer_id, attribution FROM golden.stitched_sessions").fetchall()}


def _customer_of(con, account: str) -> str:
    return con.execute("SELECT customer_id FROM marts.customer_xref WHERE source = 'shop_accounts' "
                       "AND source_record_id = ?", [account]).fetchall()[0][0]


def test_anonymous_sessions_are_staged_and_counts_reconcile(sessions_project):
    with duckdb.connect(str(sessions_project.warehouse), read_only=True) as con:
        raw, staged, quarantined, anonymous = con.execute("""
            SELECT (SELECT count(*) FROM raw.web_sessions),
                   (SELECT count(*) FROM staging.activities WHERE source = 'web_sessions'),
                   (SELECT count(*) FROM staging.quarantine WHERE source = 'web_sessions'),
                   (SELECT count(*) FROM staging.activities WHERE source = 'web_sessions'
                                                              AND person_record_id IS NULL)""").fetchall()[0]
    assert (raw, staged, quarantined, anonymous) == (len(SESSIONS), len(SESSIONS), 0, 8)


def test_a_pre_login_session_is_stitched_to_the_customer_who_logs_in_on_that_device(sessions_project):
    with duckdb.connect(str(sessions_project.warehouse), read_only=True) as con:
        elodie = _customer_of(con, "A1")
    seen = _attribution(sessions_project)
    assert seen["S03"] == (elodie, "logged_in")
    assert seen["S01"] == seen["S02"] == seen["S05"] == (elodie, "stitched_pre_login")
    assert seen["S04"] == (elodie, "stitched_after_login")


def test_a_shared_device_is_flagged_and_its_anonymous_sessions_stay_unattributed(sessions_project):
    with duckdb.connect(str(sessions_project.warehouse), read_only=True) as con:
        elodie, marc = _customer_of(con, "A1"), _customer_of(con, "A2")
        shared = con.execute("SELECT * FROM golden.shared_devices").df()
    assert elodie != marc
    seen = _attribution(sessions_project)
    assert seen["S11"] == (elodie, "logged_in") and seen["S12"] == (marc, "logged_in")
    assert seen["S10"] == seen["S13"] == (None, "unattributed_shared_device")
    assert seen["S20"] == seen["S21"] == (None, "unattributed_unknown_device")
    assert seen["S30"] == (None, "unattributed_unknown_account")
    assert shared[["device_id", "customers", "logged_in_sessions", "unattributed_sessions"]].values.tolist() == [
        ["K-TABLET", 2, 2, 2]]
    assert not {"customer_id", "person_record_id"} & set(shared.columns)  # counts, no one's identity


def test_engagement_counts_the_stitched_sessions(sessions_project):
    with duckdb.connect(str(sessions_project.warehouse), read_only=True) as con:
        elodie = _customer_of(con, "A1")
        sessions_90d, engagement = con.execute(
            "SELECT sessions_90d, engagement_score FROM marts.customer_360 WHERE customer_id = ?", [elodie]).fetchall()[0]
    # within 90 days of 2026-11-24: S03 and S11 logged in, S01, S02, S04 stitched (S05 is older)
    assert sessions_90d == 5
    assert engagement == 30 * 5 // 10  # opted out of e-mail, no review, no purchase: sessions only



def _stitched_rows(con) -> list[tuple]:
    return sorted(con.execute("SELECT * FROM golden.stitched_sessions").fetchall(), key=repr)


def test_a_day_attributes_again_only_the_devices_it_changed_as_the_whole_attribution_would(sessions_project, tmp_path):
    """Day two: Julien logs in on the never-logged-in device (its earlier visit becomes his), and the unknown account
    A404 arrives (its session becomes logged in). Only those devices' sessions are attributed again (issue 18), and
    the table is what attributing every session gives."""
    settings = copy_project(sessions_project.warehouse.parent, sessions_project, tmp_path / "p")
    day = "2026-11-21"
    _write_sessions(settings.raw_dir, [("S22", "K-NEVER", "A4", "2026-11-21T08:00:00")], day)
    folder = settings.raw_dir / "shop_accounts" / day
    folder.mkdir(parents=True)
    (folder / "accounts.jsonl").write_text(json.dumps(
        {"id": "A404", "given": "Inès", "family": "Petit", "born": "1995-02-03", "mail": "ines.petit@gmail.com",
         "tel": "0633344455", "updated": "2026-11-21", "address": {"street": "3 rue Sainte-Catherine",
                                                                   "zip": "33000", "city": "Bordeaux"}}) + "\n",
        encoding="utf-8")
    result = materialise(dataclasses.replace(settings, as_of="2026-11-25"))
    meta = {k: v.value for e in result.get_asset_materialization_events() if e.asset_key.path == ["golden", "stitched_sessions"]
            for k, v in e.event_specific_data.materialization.metadata.items()}
    seen = _attribution(settings)
    with duckdb.connect(str(settings.warehouse)) as con:
        julien, ines = _customer_of(con, "A4"), _customer_of(con, "A404")
        stored = _stitched_rows(con)
        con.execute("CREATE TEMP VIEW stitch_input AS SELECT * FROM staging.activities WHERE activity_type = 'session'")
        whole = sorted(con.execute(STITCHED_SESSIONS_SQL).fetchall(), key=repr)
    assert seen["S20"] == (julien, "stitched_pre_login") and seen["S22"] == (julien, "logged_in")
    assert seen["S30"] == (ines, "logged_in")
    assert stored == whole
    assert (meta["written"], meta["sessions_attributed"]) == ("merged", 3)  # S20, S22 (K-NEVER) and S30 (K-GHOST)
