"""Erasure at its edges, as the data-protection officer meets them over several days: a household sharing a
landline, where one member asks to be forgotten and the other must keep their data (and their consent)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings
from tests.conftest import materialise

SOURCES = """
sources:
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    delimiter: ";"
    trust_rank: 1
    record_id: id
    updated_at: maj
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      email: email
      phone: tel
      postcode: cp
  - name: gdpr
    channel: online
    purpose: erasure
    format: csv
    files: gdpr/**/*.csv
    record_id: request_id
    updated_at: requested_at
    date_formats: ["%Y-%m-%d"]
    person:
      email: email
      phone: phone
"""
HEADER = "id;prenom;nom;email;tel;naissance;maj;cp\n"
# Marie and Paul share the household's landline; the others fill the model.
HOUSEHOLD = ("C01;Marie;Dupontel;marie.dupontel@example.fr;01 45 67 89 10;12/03/1971;01/11/2026;75011\n"
             "C02;Paul;Dupontel;paul.dupontel@example.fr;01 45 67 89 10;05/07/1969;01/11/2026;75011\n")
OTHERS = "".join(f"C{i:02d};{first};{last};{first.lower()}.{last.lower()}@example.fr;06 12 34 56 {i:02d};"
                 f"{i:02d}/0{i % 9 + 1}/19{60 + i};01/11/2026;750{i:02d}\n"
                 for i, (first, last) in enumerate([("Jean", "Martin"), ("Claire", "Bernard"), ("Louis", "Dubois"),
                                                    ("Sophie", "Thomas"), ("Marc", "Robert"), ("Julie", "Richard"),
                                                    ("Emma", "Petit"), ("Hugo", "Durand"), ("Lea", "Leroy")], start=3))


def _write(raw: Path, source: str, day: str, text: str) -> None:
    (raw / source / day).mkdir(parents=True, exist_ok=True)
    (raw / source / day / f"{source}.csv").write_text(text, encoding="utf-8")


def _customer(settings: Settings, record_id: str) -> tuple[str, str | None, bool]:
    """(customer id, exclusion reason, published) of a CRM record."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("""SELECT x.customer_id, e.reason, x.customer_id IN (SELECT customer_id FROM marts.customer_360)
            FROM marts.customer_xref x LEFT JOIN golden.excluded_customers e USING (customer_id)
            WHERE x.source = 'crm' AND x.source_record_id = ?""", [record_id]).fetchone()


@pytest.fixture
def household(tmp_path) -> Settings:
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "warehouse.duckdb",
                        sources_file=tmp_path / "sources.yaml", truth_file=None, retention_days=36500)
    _write(settings.raw_dir, "crm", "2026-11-25", HEADER + HOUSEHOLD + OTHERS)
    _write(settings.raw_dir, "gdpr", "2026-11-25",
           "request_id,email,phone,requested_at\nR1,marie.dupontel@example.fr,,2026-11-25\n")
    return settings


def test_erasing_one_member_of_a_household_leaves_the_other_who_shares_their_landline(household):
    materialise(household)
    assert _customer(household, "C01")[1] == "erased"
    assert _customer(household, "C02")[1:] == (None, True)
    # Paul's record changes on a later day (his customer is looked at again): he must stay, landline and all.
    _write(household.raw_dir, "crm", "2026-11-26",
           HEADER + "C02;Paul;Dupontel;paul.dupontel@example.fr;01 45 67 89 10;05/07/1969;26/11/2026;75012\n")
    materialise(household)
    assert _customer(household, "C02")[1:] == (None, True)
    with duckdb.connect(str(household.warehouse), read_only=True) as con:
        assert con.execute("SELECT phone, email FROM staging.person_records WHERE source_record_id = 'C02' "
                           "AND source = 'crm'").fetchone() == ("+33145678910", "paul.dupontel@example.fr")
        # Marie stays erased by her record key and e-mail; the shared landline is not registered as hers, only the
        # landline with her name (dated and undated), which Paul's does not match.
        kinds = dict(con.execute("SELECT kind, count(*) FROM identity.erasure_registry GROUP BY 1").fetchall())
    assert kinds == {"email": 1, "record": 1, "landline_name": 1, "landline_name_undated": 1}
    assert _customer(household, "C01")[1:] == ("erased", False)


def _ambiguous_requests(result) -> int:
    return next(e.event_specific_data.materialization.metadata["erasure_requests_ambiguous"].value
                for e in result.get_asset_materialization_events()
                if e.asset_key.path == ["golden", "excluded_customers"])


def test_a_request_naming_only_a_household_s_landline_erases_no_one_and_says_so(household):
    # The request cannot say which of the two asked: it erased both, Paul who never asked with Marie.
    (household.raw_dir / "gdpr" / "2026-11-25" / "gdpr.csv").write_text(
        "request_id,email,phone,requested_at\nR1,,01 45 67 89 10,2026-11-25\n", encoding="utf-8")
    assert _ambiguous_requests(materialise(household)) == 1
    assert _customer(household, "C01")[1:] == (None, True) and _customer(household, "C02")[1:] == (None, True)
    # The privacy desk adds Marie's own e-mail to the request: she alone goes.
    _write(household.raw_dir, "gdpr", "2026-11-26",
           "request_id,email,phone,requested_at\nR2,marie.dupontel@example.fr,01 45 67 89 10,2026-11-26\n")
    materialise(household)
    assert _customer(household, "C01")[1:] == ("erased", False) and _customer(household, "C02")[1:] == (None, True)
    # Marie's records are purged: Paul alone holds the landline the requests named. When his record changes, the
    # requested landline must not take him for her.
    _write(household.raw_dir, "crm", "2026-11-27",
           HEADER + "C02;Paul;Dupontel;paul.dupontel@example.fr;01 45 67 89 10;05/07/1969;27/11/2026;75012\n")
    materialise(household)
    assert _customer(household, "C02")[1:] == (None, True)
    assert _customer(household, "C01")[1:] == ("erased", False)
    # Nor does a campaign's suppression list drop the landline he can still be called on.
    from pipeline.audience import build_audience

    out = household.warehouse.parent / "calls.csv"
    build_audience(household.restricted, household.warehouse, "phone", out)
    landline = hashlib.sha256(b"phone:+33145678910").hexdigest()
    assert landline not in out.with_name("calls.suppression.csv").read_text()


def test_a_request_without_a_valid_e_mail_or_phone_is_said_not_kept_silently(household, capfd):
    # `R9` names an e-mail with no @ and a number no country reads: it could erase no one, and only a field issue
    # said so; the officer took the request for done.
    (household.raw_dir / "gdpr" / "2026-11-25" / "gdpr.csv").write_text(
        "request_id,email,phone,requested_at\nR1,marie.dupontel@example.fr,,2026-11-25\nR9,marie.dupontel,12,2026-11-25\n",
        encoding="utf-8")
    result = materialise(household)
    metadata = next(e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.asset_key.path == ["golden", "excluded_customers"])
    assert metadata["erasure_requests_unusable"].value == 1 and _customer(household, "C01")[1] == "erased"
    warnings = [line for line in capfd.readouterr().err.splitlines() if "erasure request(s) hold neither" in line]
    assert len(warnings) == 1 and warnings[0].endswith(": R9") and "marie" not in warnings[0]


def test_an_erased_customers_own_points_stay_theirs_when_the_member_sharing_one_lacks_another_kind(tmp_path):
    # Paul holds the landline Marie held, and no e-mail. An IN list of the others' e-mails then holds a NULL, which
    # read NULL (not "not shared") for Marie's own e-mails: neither registered nor marked.
    from pipeline.golden.purge import ERASED_POINTS_SQL

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("""
            CREATE SCHEMA staging; CREATE SCHEMA marts; CREATE SCHEMA golden;
            CREATE TABLE staging.person_records AS SELECT * FROM (VALUES
                ('crm', 'C01', 'marie@example.fr', '+33145678910', 'landline'),
                ('crm', 'C13', 'marie.d@example.org', '+33698765432', 'mobile'),
                ('crm', 'C02', NULL, '+33145678910', 'landline')) t(source, source_record_id, email_key, phone, phone_kind);
            CREATE TABLE staging.person_contacts (source VARCHAR, source_record_id VARCHAR, kind VARCHAR,
                                                  contact_key VARCHAR, phone_kind VARCHAR);  -- further points: none here
            CREATE TABLE marts.customer_xref AS SELECT * FROM (VALUES
                ('M', 'crm', 'C01'), ('M', 'crm', 'C13'), ('P', 'crm', 'C02')) t(customer_id, source, source_record_id);
            CREATE TABLE golden.excluded_customers AS SELECT 'M' AS customer_id, 'erased' AS reason""")
        con.execute(ERASED_POINTS_SQL)
        shared = dict(con.execute("SELECT identifier_hash, shared FROM _erased_points WHERE kind <> 'record'").fetchall())

    def point(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    assert shared == {point("email:marie@example.fr"): False, point("email:marie.d@example.org"): False,
                      point("phone:+33698765432"): False, point("phone:+33145678910"): True}


def test_an_honoured_request_is_not_reported_unusable_on_the_runs_after_its_purge(household, capfd):
    # The purge scrubs the requests' e-mails and phones (the registry keeps their hashes): the next runs, and a full
    # restage, read R1 without either and warned that it erased no one, asking the officer to deliver it again.
    materialise(household)
    assert _customer(household, "C01")[1] == "erased"
    _write(household.raw_dir, "gdpr", "2026-11-26",
           "request_id,email,phone,requested_at\nR9,marie.dupontel,12,2026-11-26\n")
    for options, said in (({}, ["R9"]), ({"full_refresh": True}, [])):  # R9 alone, on the run it came in
        capfd.readouterr()
        assert _unusable_requests(materialise(household, **options)) == len(said), options
        warnings = [line for line in capfd.readouterr().err.splitlines() if "erasure request(s) hold neither" in line]
        assert [w.rsplit(": ", 1)[1] for w in warnings] == said, (options, warnings)
    assert _customer(household, "C01")[1:] == ("erased", False)


def _unusable_requests(result) -> int:
    return next(e.event_specific_data.materialization.metadata["erasure_requests_unusable"].value
                for e in result.get_asset_materialization_events()
                if e.asset_key.path == ["golden", "excluded_customers"])


def _excluded_metadata(result) -> dict:
    return next(e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key.path == ["golden", "excluded_customers"])


def test_the_officer_can_tell_whom_each_request_erased_and_which_erased_no_one_yet(household):
    # R1 names Marie; R2 names someone the base does not hold (yet): the officer must be able to answer each
    # requester, and the purge leaves nothing of what matched to find it again later.
    (household.raw_dir / "gdpr" / "2026-11-25" / "gdpr.csv").write_text(
        "request_id,email,phone,requested_at\nR1,marie.dupontel@example.fr,,2026-11-25\n"
        "R2,noemie.absente@example.fr,,2026-11-25\n", encoding="utf-8")
    assert _excluded_metadata(materialise(household))["erasure_requests_unmatched"].value == 1
    marie = _customer(household, "C01")[0]
    with duckdb.connect(str(household.warehouse), read_only=True) as con:
        matches = con.execute("SELECT request_id, customer_id FROM identity.erasure_matches").fetchall()
    assert matches == [("R1", marie)]
    # Noémie opens an account the next day: the registered request erases her on arrival, and says so.
    _write(household.raw_dir, "crm", "2026-11-26",
           HEADER + "C40;Noémie;Absente;noemie.absente@example.fr;06 99 88 77 66;01/02/1990;26/11/2026;75040\n")
    assert _excluded_metadata(materialise(household))["erasure_requests_unmatched"].value == 0
    noemie = _customer(household, "C40")
    with duckdb.connect(str(household.warehouse), read_only=True) as con:
        matches = con.execute("SELECT request_id, customer_id FROM identity.erasure_matches ORDER BY 1").fetchall()
    assert noemie[1:] == ("erased", False) and matches == [("R1", marie), ("R2", noemie[0])]
