"""A person record's further e-mails and phones (`more_contacts`): a CRM export carrying email_perso and email_pro,
a mobile, a landline and an office line. Each further value is staged (staging.person_contacts), becomes a contact point
of the golden record with its own consent, finds the customer in the lookup, and erases the person when a request
names it, leaving no value anywhere."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings, SourcesFileError, load_sources
from pipeline.marts.lookup import find_customers
from tests.conftest import materialise
from tests.hostile import values_left
from tests.test_personal_data import _cells_holding

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
      email: email_perso
      phone: mobile
      postcode: cp
    more_contacts:
      email: email_pro
      phone: [tel_fixe, tel_bureau]
  - name: newsletter
    channel: online
    format: csv
    files: newsletter/**/*.csv
    record_id: event_id
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: email
    activity:
      type: consent
      occurred_at: at
      consent_channel: channel
      consent_action: action
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
"""
HEADER = "id;prenom;nom;naissance;email_perso;email_pro;mobile;tel_fixe;tel_bureau;maj;cp\n"
# Zéphyrin's work e-mail, landline and a garbage office line ("12"); the others fill the model.
ZEPHYRIN = ("C01;Zéphyrin;Quoniam;12/03/1971;zephyrin.quoniam@example.fr;Z.Quoniam@Acme-Corp.example;06 98 76 54 32;"
            "01 45 67 89 10;12;01/11/2026;75011\n")
OTHERS = "".join(f"C{i:02d};{first};{last};{i:02d}/0{i % 9 + 1}/19{60 + i};{first.lower()}.{last.lower()}@example.fr;;"
                 f"06 12 34 56 {i:02d};;;01/11/2026;750{i:02d}\n"
                 for i, (first, last) in enumerate([("Jean", "Martin"), ("Claire", "Bernard"), ("Louis", "Dubois"),
                                                    ("Sophie", "Thomas"), ("Marc", "Robert"), ("Julie", "Richard"),
                                                    ("Emma", "Petit"), ("Hugo", "Durand"), ("Lea", "Leroy")], start=3))
# Zéphyrin's values as any table may hold them (delivered and normalised); the office line "12" is too short to find.
NEEDLES = ("zephyrin", "zéphyrin", "quoniam", "acme-corp", "06 98 76 54 32", "+33698765432", "01 45 67 89 10",
           "+33145678910")
POINTS = """SELECT kind, contact_point_key, valid, sources, consent_email, consent_sms FROM golden.contact_points
            WHERE customer_id = ? ORDER BY ALL"""


def _write(raw: Path, source: str, day: str, text: str) -> None:
    (raw / source / day).mkdir(parents=True, exist_ok=True)
    (raw / source / day / f"{source}.csv").write_text(text, encoding="utf-8")


def _rows(path: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _customer(settings: Settings) -> str:
    return _rows(settings.warehouse, "SELECT customer_id FROM marts.customer_xref "
                                     "WHERE source = 'crm' AND source_record_id = 'C01'")[0][0]


@pytest.fixture
def crm(tmp_path) -> Settings:
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "data" / "warehouse.duckdb",
                        sources_file=tmp_path / "sources.yaml", truth_file=None, retention_days=36500)
    _write(settings.raw_dir, "crm", "2026-11-25", HEADER + ZEPHYRIN + OTHERS)
    # The newsletter's opt-in was given for the work address; a steward linked its record to the CRM card.
    _write(settings.raw_dir, "newsletter", "2026-11-25", "event_id,email,channel,action,at\n"
           "N1,z.quoniam+news@acme-corp.example,email,opt_in,2026-10-01 10:00:00\n")
    settings.decisions_dir.mkdir(parents=True)
    (settings.decisions_dir / "links.csv").write_text(
        "decision_id,decision,record_1,record_2,reason,decided_by,decided_at\n"
        "L1,must_link,crm:C01,newsletter:N1,same person,steward,2026-11-25\n", encoding="utf-8")
    return settings


def test_further_contacts_are_staged_become_points_with_their_consent_and_find_the_customer(crm):
    materialise(crm)
    with duckdb.connect(str(crm.warehouse), read_only=True) as con:
        assert con.execute("""SELECT source_column, value, valid, contact_key, phone_kind FROM staging.person_contacts
                              WHERE source_record_id = 'C01' ORDER BY ALL""").fetchall() == [
            ("email_pro", "z.quoniam@acme-corp.example", True, "z.quoniam@acme-corp.example", None),
            ("tel_bureau", None, False, None, None),
            ("tel_fixe", "+33145678910", True, "+33145678910", "landline")]
        # The garbage office line is a field issue of the record, as a garbage mobile is.
        assert con.execute("SELECT field, raw_value FROM staging.field_issues WHERE source_record_id = 'C01'"
                           ).fetchall() == [("phone", "12")]
    customer = _customer(crm)
    points = _rows(crm.warehouse, POINTS, [customer])
    # The opt-in belongs to the work address alone: the personal one (the surviving e-mail) stays unknown.
    assert points == [("email", "z.quoniam@acme-corp.example", True, ["crm", "newsletter"], "opt_in", None),
                      ("email", "zephyrin.quoniam@example.fr", True, ["crm"], "unknown", None),
                      ("phone", "+33145678910", True, ["crm"], None, "unknown"),
                      ("phone", "+33698765432", True, ["crm"], None, "unknown")]
    assert _rows(crm.restricted, "SELECT email, contactable_email FROM marts.customer_360 WHERE customer_id = ?",
                 [customer]) == [("zephyrin.quoniam@example.fr", False)]
    # The analysts' copy holds no e-mail or phone in clear: the work address's consent proof is pseudonymised.
    assert _cells_holding(crm.published, ("acme-corp", "+33145678910")) == {}
    assert _rows(crm.published, "SELECT count(*) FROM marts.consent_history WHERE contact_point_pseudonym IS NOT NULL"
                 ) == [(1,)]
    with duckdb.connect(str(crm.restricted), read_only=True) as con:
        assert find_customers(con, "Z.QUONIAM+crm@acme-corp.example") == [customer]
        assert find_customers(con, "01.45.67.89.10") == [customer]
    # A later export: his work address changes, the office line is cleared. The daily run and a full refresh agree.
    _write(crm.raw_dir, "crm", "2026-11-26", HEADER + ZEPHYRIN.replace("Z.Quoniam@Acme-Corp", "zq@acme-corp")
           .replace(";12;01/11/2026", ";;26/11/2026"))
    materialise(crm)
    daily = _rows(crm.warehouse, POINTS, [customer])
    # the old work address stays a point of the newsletter's record only (its CRM record's version was superseded)
    assert [(p[1], p[3]) for p in daily if p[1].endswith("acme-corp.example")] == [
        ("z.quoniam@acme-corp.example", ["newsletter"]), ("zq@acme-corp.example", ["crm"])]
    staged = "SELECT * EXCLUDE (_file, _line) FROM staging.person_contacts ORDER BY ALL"
    daily_staged = _rows(crm.warehouse, staged)
    materialise(crm, full_refresh=True)
    assert _rows(crm.warehouse, POINTS, [_customer(crm)]) == daily
    assert _rows(crm.warehouse, staged) == daily_staged


def test_a_request_naming_a_further_email_erases_the_person_and_leaves_no_value(crm):
    materialise(crm)
    assert values_left(crm, ("acme-corp",)) != {}  # the work address is there before
    _write(crm.raw_dir, "gdpr", "2026-11-26",
           "request_id,email,requested_at\nR1,Z.Quoniam@ACME-CORP.example,2026-11-26\n")
    materialise(crm)
    customer = _customer(crm)
    assert _rows(crm.warehouse, "SELECT reason FROM golden.excluded_customers WHERE customer_id = ?",
                 [customer]) == [("erased",)]
    assert not _rows(crm.restricted, "SELECT 1 FROM marts.customer_360 WHERE customer_id = ?", [customer])
    assert values_left(crm, NEEDLES) == {}
    # Their identifiers are registered: every e-mail and mobile, the further ones included; not the landline (a
    # household's: it erased whoever later arrived holding it, until 2026-11-29), but the landline with the card's name.
    assert dict(_rows(crm.warehouse, "SELECT kind, count(*) FROM identity.erasure_registry GROUP BY 1")) == \
        {"email": 2, "phone": 1, "record": 2, "landline_name": 1, "landline_name_undated": 1}


@pytest.mark.parametrize(("change", "message"), [
    ("      fax: fax_pro\n", r"more_contacts maps \['email', 'phone'\]"),
    ("      phone: []\n", r"'more_contacts.phone' must be a column or a list of columns"),
    ("      phone: email_perso\n", r"'person.email' and 'more_contacts.phone\[0\]' both read column 'email_perso'"),
])
def test_more_contacts_mistakes_in_the_sources_file_name_the_source(tmp_path, change, message):
    crm_only = SOURCES.split("  - name: newsletter")[0].replace("      phone: [tel_fixe, tel_bureau]\n", change)
    (tmp_path / "sources.yaml").write_text(crm_only, encoding="utf-8")
    with pytest.raises(SourcesFileError, match=f"source 'crm': {message}"):
        load_sources(tmp_path / "sources.yaml")
    assert load_sources_text(tmp_path, SOURCES)[0].more_contacts == {"email": ("email_pro",),
                                                                     "phone": ("tel_fixe", "tel_bureau")}


def load_sources_text(tmp_path: Path, text: str):
    (tmp_path / "ok.yaml").write_text(text, encoding="utf-8")
    return load_sources(tmp_path / "ok.yaml")
