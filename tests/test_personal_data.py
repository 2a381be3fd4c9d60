"""Personal data: consent belongs to a contact point, customer service finds a customer by any point, and an
erased person's values leave every table of every DuckDB file, for good, even when the record that carried
the requested e-mail is gone from the sources."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings
from pipeline.marts.lookup import find_customers
from tests.conftest import SOURCES_YAML, materialise
from tests.hostile import FORGET_YAML

SOURCES = SOURCES_YAML.replace("      city: address.city\n", "      city: address.city\n      country: address.country\n",
                               1) + FORGET_YAML + "      phone: phone\n"
DAY1, DAY2 = "2026-11-20", "2026-11-21"
HAUSSMANN = {"street": "12 bd Haussmann", "zip": "75009", "city": "Paris"}
SYDNEY = {"street": "3 George St", "zip": "2000", "city": "Sydney", "country": "AU"}
# Élodie asks to be forgotten by one e-mail; she also has a second account (another e-mail) and a card.
ELODIE = ("élodie", "elodie", "durand", "haussmann", "rue neuve", "elodie.pro", "0612345678", "+33612345678", "06 12 34 56 78",
          "0699999999", "+33699999999", "1985-03-04", "04/03/1985")


def _account(rid, given, family, born, mail, tel, updated, address):
    return {"id": rid, "given": given, "family": family, "born": born, "mail": mail, "tel": tel, "updated": updated,
            "address": address}


# Other customers, so that a re-delivered version (the old one is quarantined as superseded) stays a small share.
FILLERS = [("Alice", "Moreau"), ("Bruno", "Garnier"), ("Chloé", "Faure"), ("David", "Rousseau"), ("Emma", "Blanc"),
           ("Fabien", "Guerin"), ("Gaëlle", "Muller"), ("Hugo", "Henry"), ("Inès", "Roussel"), ("Jules", "Nicolas")]


def _write(raw: Path, source: str, day: str, name: str, text: str) -> None:
    (raw / source / day).mkdir(parents=True, exist_ok=True)
    (raw / source / day / name).write_bytes(text.encode("latin-1" if source == "store_cards" else "utf-8"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("personal")
    raw = root / "raw"
    accounts = [
        _account("A1", "Élodie", "DURAND", "1985-03-04", "Elodie.Durand@Gmail.com", "06 12 34 56 78", "2026-01-02",
                 HAUSSMANN),
        _account("A7", "Élodie", "Durand", "1985-03-04", "elodie.pro@free.fr", "0612345678", "2026-02-01", HAUSSMANN),
        # Jean opted in with his Yahoo address; his newer Gmail account wins survivorship.
        _account("A5", "Jean", "BON", "1960-05-05", "jean.bon+shop@yahoo.fr", "+33 6 11 22 33 44", "2024-01-01",
                 SYDNEY),
        _account("A6", "Jean", "Bon", "1960-05-05", "jean.bon@gmail.com", "+33611223344", "2026-03-01", SYDNEY),
        _account("A8", "Lucie", "Roux", "1990-07-08", "lucie.roux@orange.fr", "0478000000", "2026-05-01",
                 {"street": "8 rue des Lilas", "zip": "69003", "city": "Lyon", "country": "FR"}),
    ] + [_account(f"F{i}", g, f, f"1970-01-{i + 10}", f"{g[0]}.{f}@example.org".lower(), f"06 20 00 00 {i + 10}",
                  "2026-06-01", {"street": f"{i + 1} rue de la Paix", "zip": "44000", "city": "Nantes"})
         for i, (g, f) in enumerate(FILLERS)]
    _write(raw, "shop_accounts", DAY1, "accounts.jsonl", "\n".join(json.dumps(a) for a in accounts) + "\n")
    _write(raw, "store_cards", DAY1, "cards.csv", "carte;prenom;nom;naissance;tel;adhesion;points\n"
           "C1;Élodie;DURAND;04/03/1985;0612345678;01/06/2025;125,50\n"
           "C2;François;LEFÈVRE;31/12/1950;01 42 68 53 00;02/06/2020;3,00\n"  # not seen for 6 years
           + "".join(f"K{i};{g};{f.upper()};01/02/19{i + 60};07 30 00 00 {i + 10};01/03/2025;10,00\n"
                     for i, (g, f) in enumerate(FILLERS)))
    _write(raw, "newsletter", DAY1, "events.csv", "event_id,email,channel,action,at\n"
           "N1,elodie.durand@gmail.com,email,opt_in,2024-01-01 10:00:00\n"
           "N5,jean.bon@yahoo.fr,email,opt_in,2025-06-01 10:00:00\n"
           "N6,lucie.roux@orange.fr,email,opt_in,2026-01-01 10:00:00\n"  # Lucie opts in, then out
           "N7,lucie.roux@orange.fr,email,opt_out,2026-03-01 10:00:00\n"
           "N8,a.moreau@example.org,email,opt_in,2026-06-01 10:00:00\n")  # Alice opts in with her address
    _write(raw, "forget", DAY1, "requests.csv", "request_id,email,phone,requested_at\nR1,ELODIE.DURAND@gmail.com,,2026-11-19\n")
    sources = root / "sources.yaml"
    sources.write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=raw, warehouse=root / "warehouse.duckdb", sources_file=sources, truth_file=None,
                        as_of="2026-11-24", repermission_days=365)
    settings.decisions_dir.mkdir(parents=True)
    (settings.decisions_dir / "links.csv").write_text(
        "decision_id,decision,record_1,record_2,reason,decided_by,decided_at\n"
        "L1,must_link,shop_accounts:A1,shop_accounts:A7,same person,steward,2026-11-20\n"
        "L2,must_link,shop_accounts:A1,store_cards:C1,same person,steward,2026-11-20\n"
        "L3,must_link,shop_accounts:A5,shop_accounts:A6,same person,steward,2026-11-20\n"
        "L4,must_link,shop_accounts:A5,newsletter:N5,same person,steward,2026-11-20\n"
        "L5,must_link,shop_accounts:A1,newsletter:N1,same person,steward,2026-11-20\n"
        "L6,must_link,shop_accounts:A8,newsletter:N6,same person,steward,2026-11-20\n"
        "L7,must_link,shop_accounts:A8,newsletter:N7,same person,steward,2026-11-20\n"
        "L8,must_link,shop_accounts:F0,newsletter:N8,same person,steward,2026-11-20\n", encoding="utf-8")
    result = materialise(settings)
    DAY_ONE_PURGE.update({k: v.value for e in result.get_asset_materialization_events()
                          if e.asset_key.path == ["golden", "purge_log"]
                          for k, v in e.event_specific_data.materialization.metadata.items()})
    return settings


DAY_ONE_PURGE: dict = {}  # the metadata of the day-one purge (the fixture's run)


def _rows(path, sql: str, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _cells_holding(path, needles) -> dict[str, int]:
    """schema.table.column -> cells containing one of `needles` (case-insensitive), over every column of every
    table of the file."""
    found = {}
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                              "WHERE table_catalog = current_database()").fetchall()
        for schema, table, column in columns:
            n = con.execute(f'SELECT count(*) FROM {schema}."{table}" t, (SELECT unnest(?) AS n) u '
                            f'WHERE contains(lower(CAST(t."{column}" AS VARCHAR)), u.n)', [list(needles)]).fetchall()[0][0]
            if n:
                found[f"{schema}.{table}.{column}"] = n
    return found


def test_consent_belongs_to_the_contact_point_it_was_given_for(project):
    jean = _rows(project.warehouse, "SELECT customer_id FROM identity.record_customer "
                                    "WHERE unique_id = 'shop_accounts:A6'")[0][0]
    row = _rows(project.warehouse, "SELECT email, consent_email, contactable_email, region FROM marts.customer_360 "
                                   "WHERE customer_id = ?", [jean])
    # The only opt-in was given for the Yahoo address; the surviving Gmail address never opted in.
    assert row == [("jean.bon@gmail.com", "unknown", False, None)]  # and Sydney 2000 is no French département
    points = {r[0]: r[1:] for r in _rows(project.restricted, """SELECT contact_point_key, kind, valid, consent_email,
        needs_repermission, is_surviving, len(variants) FROM marts.contact_points WHERE customer_id = ?""", [jean])}
    assert points == {"jean.bon@yahoo.fr": ("email", True, "opt_in", True, False, 2),  # +shop is one mailbox
                      "jeanbon@gmail.com": ("email", True, "unknown", False, True, 1),
                      "+33611223344": ("phone", True, None, False, True, 1)}
    proof = _rows(project.restricted, "SELECT contact_point, source, source_record_id, occurred_at "
                                      "FROM marts.consent_history WHERE customer_id = ?", [jean])
    assert [p[:3] for p in proof] == [("jean.bon@yahoo.fr", "newsletter", "N5")]
    published = _rows(project.published, "SELECT contact_point_pseudonym FROM marts.consent_history")
    assert published and all(len(p[0]) == 32 and "@" not in p[0] for p in published)
    tables = {r[0] for r in _rows(project.published, "SELECT table_name FROM information_schema.tables")}
    assert "contact_points" not in tables and "consent_history" in tables
    places = set(_rows(project.published, "SELECT departement, region FROM marts.customer_360"))
    assert places == {("69", "Auvergne-Rhône-Alpes"), ("44", "Pays de la Loire"), (None, None)}  # None: Sydney
    with duckdb.connect(str(project.restricted), read_only=True) as con:
        for variant in ("JEAN.BON+news@Yahoo.fr", "jean.bon@yahoo.fr", "jeanbon@gmail.com", "06 11 22 33 44",
                        "+33 (0)6 11 22 33 44", "0033611223344"):
            assert find_customers(con, variant) == [jean], variant
        assert find_customers(con, "elodie.durand@gmail.com") == [] and find_customers(con, "no idea") == []


def test_an_erased_person_leaves_every_table_and_never_comes_back(project):
    erased = {r[0] for r in _rows(project.warehouse, "SELECT customer_id FROM golden.excluded_customers "
                                                     "WHERE reason = 'erased'")}
    holders = {r[0] for r in _rows(project.warehouse, "SELECT customer_id FROM marts.customer_xref WHERE "
                                                      "source_record_id IN ('A1', 'A7', 'C1', 'N1')")}
    assert erased == holders and len(erased) == 1
    for path in (project.warehouse, project.published, project.restricted):
        assert _cells_holding(path, ELODIE) == {}, path
    # Neither copy holds an excluded customer, not even by the record ids of marts.customer_xref (the erased
    # person's accounts and card stayed attached to their customer id there, for analysts to join extracts on).
    excluded = [r[0] for r in _rows(project.warehouse, "SELECT customer_id FROM golden.excluded_customers")]
    assert len(excluded) == 2
    for path in (project.published, project.restricted):
        assert _rows(path, "SELECT count(*) FROM marts.customer_xref WHERE customer_id IN (SELECT unnest(?))",
                     [excluded]) == [(0,)], path
    # What stays proves the erasure: record keys, dates, hashes of every identifier (not only the requested one).
    assert _rows(project.warehouse, "SELECT source_record_id, record_updated_at IS NOT NULL, email, last_name "
                                    "FROM staging.person_records WHERE source_record_id = 'A7'") == [("A7", True, None, None)]
    kinds = dict(_rows(project.warehouse, "SELECT kind, count(*) FROM identity.erasure_registry GROUP BY 1"))
    assert kinds["record"] == 4 and kinds["email"] >= 2 and kinds["phone"] >= 1
    assert _rows(project.warehouse, "SELECT reason, records FROM golden.purge_log WHERE customer_id = ?",
                 [erased.pop()]) == [("erased", 4)]
    # Retention purges the same way (François's card is six years old), without registering anything.
    assert _rows(project.warehouse, "SELECT l.reason, l.records FROM golden.purge_log l JOIN marts.customer_xref x "
                                    "USING (customer_id) WHERE x.source_record_id = 'C2'") == [("retention", 1)]
    assert _cells_holding(project.warehouse, ("lefèvre", "lefevre", "01 42 68 53 00", "+33142685300")) == {}

    # Later: the request file is gone, the source deleted the requested e-mail from A1, and the second account
    # and the card come back with new values. The person stays erased, through the keys of their other records.
    (project.raw_dir / "forget" / DAY1 / "requests.csv").unlink()
    _write(project.raw_dir, "shop_accounts", DAY2, "accounts.jsonl", "\n".join(json.dumps(a) for a in [
        _account("A1", "Élodie", "DURAND", "1985-03-04", None, None, "2026-11-21", HAUSSMANN),
        _account("A7", "Élodie", "Durand", "1985-03-04", "elodie.pro@free.fr", "0612345678", "2026-11-21",
                 {"street": "5 rue Neuve", "zip": "75011", "city": "Paris"})]) + "\n")
    _write(project.raw_dir, "store_cards", DAY2, "cards.csv", "carte;prenom;nom;naissance;tel;adhesion;points\n"
           "C1;Élodie;DURAND;04/03/1985;0699999999;01/06/2025;130,00\n")
    materialise(project)
    again = {r[0] for r in _rows(project.warehouse, "SELECT DISTINCT x.customer_id FROM marts.customer_xref x "
                                                    "JOIN golden.excluded_customers USING (customer_id) WHERE reason = "
                                                    "'erased' AND source_record_id IN ('A1', 'A7', 'C1')")}
    assert again and _rows(project.warehouse, "SELECT count(*) FROM marts.customer_360 WHERE customer_id IN "
                                              "(SELECT unnest(?))", [list(again)]) == [(0,)]
    for path in (project.warehouse, project.published, project.restricted):
        assert _cells_holding(path, ELODIE) == {}, path


def _cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([str(Path(sys.executable).parent / "customer360"), *args], capture_output=True, text=True,
                          timeout=300)


def _customer_of(project, unique_id: str) -> str:
    return _rows(project.warehouse, "SELECT customer_id FROM identity.record_customer WHERE unique_id = ?",
                 [unique_id])[0][0]


def test_the_golden_rows_of_excluded_customers_are_built_as_the_purge_leaves_them(project):
    """Who is excluded is decided before the golden rows are built: François's (retention) and Élodie's (erased)
    profile, activity, consent state and contact points hold no value from the start, so the day-one purge rewrote
    the earlier layers and only the golden tables read before it (consent events, per-point consent)."""
    purged = {k.removeprefix("purged ") for k in DAY_ONE_PURGE if k.startswith("purged ")}
    assert {"staging.person_records", "identity.linkage_input", "raw.store_cards"} <= purged
    assert {t for t in purged if t.startswith("golden.")} <= {"golden.consent_events", "golden.point_consent_state"}
    francois = _customer_of(project, "store_cards:C2")
    assert _rows(project.warehouse, "SELECT count(*), count(first_name), count(last_name), count(landline) "
                                    "FROM golden.customer_profile WHERE customer_id = ?", [francois]) == [(1, 0, 0, 0)]
    assert _rows(project.warehouse, "SELECT count(*), count(contact_point) FROM golden.contact_points "
                                    "WHERE customer_id = ?", [francois]) == [(1, 0)]


def test_customer_service_finds_a_customer_by_an_old_variant_a_phone_typed_otherwise_or_a_name(project):
    jean, lucie = _customer_of(project, "shop_accounts:A6"), _customer_of(project, "shop_accounts:A8")
    others = {r[0] for r in _rows(project.restricted, "SELECT customer_id FROM marts.customer_360")} - {jean}
    for query in (["JEAN.BON+news@Yahoo.fr"], ["+33 (0)6 11 22 33 44"], [jean], ["bon jean", "--postcode", "2000"],
                  [jean.lower()]):  # an id read out on the phone, typed in lower case
        card = _cli("lookup", *query, "--restricted", str(project.restricted))
        assert card.returncode == 0, card.stderr
        assert f"=== customer {jean}" in card.stdout and not any(o in card.stdout for o in others), query
        assert "jean.bon@yahoo.fr" in card.stdout and "consent history" in card.stdout  # the old point and its proof
        assert "--- timeline" in card.stdout and "newsletter" in card.stdout  # the consent event, on the timeline
    for name, postcode in (("Lucie Roux", "69003"), ("ROUX, Lucie", "69 003")):  # a postcode as people say it
        assert f"=== customer {lucie}" in _cli("lookup", name, "--postcode", postcode, "--restricted",
                                               str(project.restricted)).stdout
    alone = _cli("lookup", "Lucie Roux", "--restricted", str(project.restricted))  # a name alone: said what it needs
    assert alone.returncode == 1 and "a name is looked up with the customer's --postcode" in alone.stderr
    timeline = _rows(project.restricted, "SELECT activity_type, source, source_record_id FROM marts.customer_timeline "
                                         "WHERE customer_id = ? ORDER BY occurred_at", [jean])
    assert ("consent", "newsletter", "N5") in timeline
    assert "customer_timeline" not in {r[0] for r in _rows(project.published, "SELECT table_name FROM "
                                                                              "information_schema.tables")}
    missing = _cli("lookup", "nobody@example.org", "--restricted", str(project.restricted))
    assert missing.returncode == 1 and missing.stdout == ""


def test_an_audience_holds_only_customers_opted_in_on_the_very_point_and_comes_with_suppressions(project, tmp_path):
    import hashlib

    import pandas as pd

    out = tmp_path / "newsletter.csv"
    made = _cli("audience", "--channel", "email", "--out", str(out), "--restricted", str(project.restricted),
                "--warehouse", str(project.warehouse))
    assert made.returncode == 0, made.stderr
    audience = pd.read_csv(out)
    assert list(audience.columns) == ["customer_id", "first_name", "last_name", "email"]  # what an e-mail needs
    alice = _customer_of(project, "shop_accounts:F0")
    # Alice opted in on her address; Jean's opt-in was for another address, Lucie opted out, Élodie is erased.
    assert audience["customer_id"].tolist() == [alice]
    suppression = pd.read_csv(tmp_path / "newsletter.suppression.csv")
    lucie = hashlib.sha256(b"email:lucie.roux@orange.fr").hexdigest()
    elodie = hashlib.sha256(b"email:elodiedurand@gmail.com").hexdigest()
    reasons = dict(zip(suppression["identifier_hash"], suppression["reason"], strict=True))
    assert reasons[lucie] == "opt_out" and reasons[elodie] == "erased"
    assert out.stat().st_mode & 0o077 == 0 and "@" not in (tmp_path / "newsletter.suppression.csv").read_text()


def test_marketing_gets_an_error_not_an_empty_or_unsuppressed_audience(project, tmp_path):
    import pandas as pd

    out = tmp_path / "sms.csv"
    restricted = ["--restricted", str(project.restricted)]
    # A segment as people write it: the marts' spelling; one no customer can have: an error naming them, no file.
    made = _cli("audience", "--channel", "email", "--segment", "At risk", "--segment", "Prospect", "--tier", "NONE",
                "--out", str(out), *restricted)
    assert made.returncode == 0, made.stderr
    typo = _cli("audience", "--channel", "email", "--segment", "vip", "--out", str(tmp_path / "vip.csv"), *restricted)
    assert typo.returncode == 2 and "no segment 'vip': the segments are prospect, champions" in typo.stderr
    # A campaign for one country's customers, the country as marketing writes it; one that names no country: an error.
    for country, reached in (("france", 1), ("Deutschland", 0)):
        made = _cli("audience", "--channel", "email", "--country", country, "--out", str(tmp_path / "c.csv"), *restricted)
        assert made.returncode == 0 and made.stdout.startswith(f"{reached} customers reachable"), made.stderr
    nowhere = _cli("audience", "--channel", "email", "--country", "Atlantis", "--out", str(tmp_path / "a.csv"), *restricted)
    assert nowhere.returncode == 2 and "no country 'Atlantis'" in nowhere.stderr and not (tmp_path / "a.csv").exists()
    # The erased identifiers are read from the warehouse beside the restricted copy (the default was ./data's, absent
    # on any other project: a traceback after the audience was written, without its suppression list).
    suppression = pd.read_csv(tmp_path / "sms.suppression.csv")
    assert "erased" in set(suppression["reason"])
    elsewhere = tmp_path / "elsewhere.csv"
    absent = _cli("audience", "--channel", "email", "--out", str(elsewhere), "--warehouse", str(tmp_path / "no.duckdb"),
                  *restricted)
    assert absent.returncode == 2 and "no warehouse at" in absent.stderr and "Traceback" not in absent.stderr
    assert not elsewhere.exists() and not (tmp_path / "elsewhere.suppression.csv").exists()


def test_a_customer_purged_on_day_one_stays_purged_in_the_tables_rebuilt_on_day_two(project):
    """François (card C2, not seen for six years) was purged for retention on day one. The steward decisions, the
    decision log, the linkage input and the scored pairs are rebuilt every run: a steward's note naming him, added
    on a later day, and his record's rebuilt rows must be scrubbed again, without logging him twice."""
    (project.decisions_dir / "later.csv").write_text(
        "decision_id,decision,record_1,record_2,reason,decided_by,decided_at\n"
        "L9,cannot_link,store_cards:C2,store_cards:K0,François Lefèvre is not Alice,steward,2026-11-21\n",
        encoding="utf-8")
    try:
        materialise(project)
    finally:
        (project.decisions_dir / "later.csv").unlink()
    assert _rows(project.warehouse, "SELECT count(*), min(status) IS NOT NULL FROM identity.steward_decisions "
                                    "WHERE decision_id = 'L9' AND reason IS NULL") == [(1, True)]
    assert _rows(project.warehouse, "SELECT first_name, last_name, landline FROM identity.linkage_input "
                                    "WHERE unique_id = 'store_cards:C2'") == [(None, None, None)]
    assert _cells_holding(project.warehouse, ("lefèvre", "lefevre", "françois", "01 42 68 53 00", "+33142685300")) == {}
    assert _rows(project.warehouse, "SELECT l.reason, count(*) FROM golden.purge_log l JOIN marts.customer_xref x "
                                    "USING (customer_id) WHERE x.source_record_id = 'C2' GROUP BY 1") == [("retention", 1)]
