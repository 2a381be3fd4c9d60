"""A US and Canadian brand's deliveries written by hand as its systems export them (seventeenth session's sweep: a
Salesforce-like CRM and a Quebec store's till), mapped through the README's sources YAML alone and run as the
operator starts it (`customer360 run`, then `lookup` and `audience`). A state or province had no canonical field
(left in raw): the published address had none, and two John Smiths of Springfield, Oregon and Illinois, read alike
on every card and mailing label."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.hostile import operator_run

SOURCES = """
defaults:
  country: US
sources:
  - name: crm
    channel: online
    format: csv
    files: crm/**/*.csv
    trust_rank: 1
    record_id: Contact ID
    date_formats: ["%m/%d/%Y"]
    person:
      first_name: First Name
      last_name: Last Name
      birth_date: Birthdate
      email: Email
      phone: Phone
      street: MailingStreet
      city: MailingCity
      state: MailingState
      postcode: MailingPostalCode
      country: MailingCountry
    consent:
      post: Mail Opt In
  - name: till_qc
    channel: offline
    format: csv
    files: till_qc/**/*.csv
    country: CA
    trust_rank: 2
    record_id: Membre
    person:
      full_name: Nom
      phone: Téléphone
      street: Adresse
      city: Ville
      state: Province
      postcode: Code postal
"""

CRM = """Contact ID,First Name,Last Name,Birthdate,Email,Phone,MailingStreet,MailingCity,MailingState,MailingPostalCode,MailingCountry,Mail Opt In
C1,John,Smith,11/29/1980,john.smith@example.com,(503) 555-0100 x12,"742 Evergreen Terrace, Apt 4B",Springfield,Oregon,97477-1234,US,yes
C2,John,Smith,03/04/1980,jsmith@example.org,(217) 555-0111,742 Evergreen Terrace,Springfield,Ill.,62704,US,yes
C3,Ana,Reyes,05/06/1971,ana.reyes@example.com,(415) 555-0122,1 Market St,San Francisco,California,94105,US,no
C4,Ben,Okafor,06/07/1972,ben.okafor@example.com,(213) 555-0133,200 N Spring St,Los Angeles,Calif.,90012,USA,no
C5,Cara,Lind,07/08/1973,cara.lind@example.com,(916) 555-0144,1315 10th St,Sacramento,ca,95814,United States,no
C6,Dan,Wolfe,08/09/1974,dan.wolfe@example.com,(619) 555-0155,1600 Pacific Hwy,San Diego,TX,92101,US,no
C7,Eva,Moss,09/10/1975,eva.moss@example.com,(617) 555-0166,1 City Hall Sq,Boston,,2134,US,no
C8,Jean-François,Tremblay,01/02/1970,jf.tremblay@example.ca,(514) 555-0177,1200 rue Sainte-Catherine O,Montréal,Québec,h3b1a7,Canada,yes
C9,Luc,Gagnon,02/03/1969,luc.gagnon@example.ca,(418) 555-0188,2 rue des Jardins,Québec,QC,G1R 4S9,CA,no
C10,Mia,Chen,03/04/1968,mia.chen@example.com,(212) 555-0199,350 5th Ave,New York,QC,10118,US,no
C12,Nadia,Roy,05/06/1966,nadia.roy@example.ca,(514) 555-0112,300 av. du Parc,Montreal,PQ,H2X 1Y4,,no
C11,Alice,Walker,04/05/1967,alice.walker@example.com,(217) 555-0110,"500 E Capitol Ave, Springfield, IL 62701",,,,US,no
"""
TILL = """Membre,Nom,Téléphone,Adresse,Ville,Province,Code postal
Q1,Sophie Roy,819-555-0101,10 rue Principale,Gatineau,PQ,J8Y-3Z5
Q2,Marc Côté,450-555-0102,5 boul. Taschereau,Longueuil,Qué.,J4K 2V1
Q3,Anne Bélanger,613-555-0103,24 Sussex Dr,Ottawa,Ont.,k1a0a1
Q4,Éric Dubé,819-555-0104,"1 rue des Érables, Sherbrooke QC J1H 1A1",,,
"""

CLI = str(Path(sys.executable).parent / "customer360")


@dataclass(frozen=True)
class Delivered:
    root: Path
    env: dict
    staged: dict      # record -> (state, country, postcode)
    golden: dict      # record -> (customer_id, city, state, postcode, address_source)
    published: dict   # customer_id -> state, in the pseudonymised copy analysts read
    issues: list

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], capture_output=True, text=True, env=self.env, timeout=300)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Delivered:
    """Both deliveries, run once by `customer360 run` as the operator starts it."""
    root = tmp_path_factory.mktemp("north_american")
    _, env, warehouse = operator_run(root, SOURCES, {("crm", "contacts.csv"): CRM, ("till_qc", "membres.csv"): TILL})
    with duckdb.connect(str(warehouse), read_only=True) as con:
        staged = {r[0]: r[1:] for r in con.execute(
            "SELECT source_record_id, state, country, postcode FROM staging.person_records").fetchall()}
        golden = {r[0]: r[1:] for r in con.execute(
            "SELECT x.source_record_id, c.customer_id, c.city, c.state, c.postcode, c.address_source "
            "FROM marts.customer_360 c JOIN marts.customer_xref x USING (customer_id)").fetchall()}
        issues = con.execute("SELECT source_record_id, field, reason FROM staging.field_issues ORDER BY ALL").fetchall()
    with duckdb.connect(str(root / "data" / "published.duckdb"), read_only=True) as con:
        published = dict(con.execute("SELECT customer_id, state FROM marts.customer_360").fetchall())
    return Delivered(root, env, staged, golden, published, issues)


def test_a_state_or_province_is_its_code_however_it_is_written(delivered):
    states = {record: state for record, (state, *_) in delivered.staged.items()}
    # California written out, as the Government Printing Office abbreviates it, as its code, in lower case
    assert [states[r] for r in ("C3", "C4", "C5")] == ["CA", "CA", "CA"]
    # Quebec in French, its code, Canada Post's retired `PQ` and the French abbreviation; Ontario abbreviated
    assert [states[r] for r in ("C8", "C9", "Q1", "Q2", "Q3")] == ["QC", "QC", "QC", "QC", "ON"]
    assert (states["C1"], states["C2"]) == ("OR", "IL")
    # a record without a country whose province and postcode both say Canada, in a source whose country is the US:
    # both were field issues (read as American), and the customer had no address
    assert delivered.staged["C12"] == ("QC", "CA", "H2X 1Y4")
    # the Canadian postcodes as the two systems typed them read as Canada Post writes them
    assert [delivered.staged[r][2] for r in ("C8", "Q1", "Q3")] == ["H3B 1A7", "J8Y 3Z5", "K1A 0A1"]


def test_a_state_the_country_or_the_postcode_contradicts_is_a_field_issue(delivered):
    # a state of another country (`QC` on a New York record), or one its ZIP denies (San Diego's 92101 in `TX`):
    # left empty, said per record; a record without one takes the state its ZIP names (Boston's `2134`, its zero
    # lost in a spreadsheet, is Massachusetts')
    assert [i for i in delivered.issues if i[1] == "state"] == [
        ("C10", "state", "'QC' is no state or province of US"),
        ("C6", "state", "'TX' is not the state of postcode 92101 (CA)")]
    assert (delivered.staged["C10"][0], delivered.staged["C6"][0]) == (None, None)
    assert delivered.staged["C7"] == ("MA", "US", "02134")


def test_a_one_cell_address_gives_its_town_state_and_postcode(delivered):
    # the street cell held the whole address and the postcode field nothing: no address survived (no postcode)
    assert delivered.golden["C11"][1:] == ("Springfield", "IL", "62701", "crm")
    assert delivered.golden["Q4"][1:] == ("Sherbrooke", "QC", "J1H 1A1", "till_qc")
    with duckdb.connect(str(delivered.root / "data" / "restricted.duckdb"), read_only=True) as con:
        streets = con.execute("SELECT street, address_valid FROM marts.customer_360 WHERE customer_id IN (?, ?) "
                              "ORDER BY street", [delivered.golden["C11"][0], delivered.golden["Q4"][0]]).fetchall()
    assert streets == [("1 rue des Érables", True), ("500 E Capitol Ave", True)]


def test_two_springfield_namesakes_publish_and_show_their_states(delivered):
    oregon, illinois = delivered.golden["C1"], delivered.golden["C2"]
    assert oregon[0] != illinois[0]
    assert (oregon[1:], illinois[1:]) == (("Springfield", "OR", "97477-1234", "crm"),
                                          ("Springfield", "IL", "62704", "crm"))
    # the analysts' pseudonymised copy keeps the state (no street nor city there to tell them apart)
    assert (delivered.published[oregon[0]], delivered.published[illinois[0]]) == ("OR", "IL")
    card = delivered.cli("lookup", "John Smith", "--postcode", "62704", "--restricted",
                         str(delivered.root / "data" / "restricted.duckdb"))
    assert f"=== customer {illinois[0]}" in card.stdout and oregon[0] not in card.stdout, card.stderr
    assert any(line.split() == ["state", "IL"] for line in card.stdout.splitlines()), card.stdout


def test_the_mailing_list_carries_the_state_a_label_needs(delivered):
    out = delivered.root / "mailing.csv"
    run = delivered.cli("audience", "--channel", "post", "--out", str(out), "--restricted",
                        str(delivered.root / "data" / "restricted.duckdb"))
    assert run.returncode == 0, run.stderr
    with open(out, encoding="utf-8", newline="") as handle:
        labels = {row["customer_id"]: (row["city"], row["state"], row["postcode"]) for row in csv.DictReader(handle)}
    assert labels == {delivered.golden["C1"][0]: ("Springfield", "OR", "97477-1234"),
                      delivered.golden["C2"][0]: ("Springfield", "IL", "62704"),
                      delivered.golden["C8"][0]: ("Montréal", "QC", "H3B 1A7")}
