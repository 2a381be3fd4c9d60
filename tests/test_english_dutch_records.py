"""A British-run CRM, a US web shop and Dutch loyalty cards written by hand (thirteenth session's sweep), through a
real run: countries as these systems write them, generational suffixes, Dutch surnames written in alphabetical order,
middle initials and English short forms, English and Dutch street types; then customer service's lookup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from assets import runner
from tests.hostile import balanced, day, project, write

SOURCES = """
defaults:
  country: US
sources:
  - name: web_shop
    channel: online
    format: csv
    files: web_shop/**/*.csv
    trust_rank: 1
    record_id: id
    date_formats: ["%m/%d/%Y"]
    person:
      first_name: first_name
      last_name: last_name
      birth_date: dob
      phone: phone
      street: address1
      postcode: zip
      country: country
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    country: GB
    trust_rank: 2
    record_id: ref
    date_formats: ["%d/%m/%Y"]
    person:
      full_name: name
      birth_date: dob
      phone: telephone
      street: address
      postcode: postcode
      country: country
  - name: nl_loyalty
    channel: offline
    format: csv
    files: nl_loyalty/**/*.csv
    delimiter: ";"
    country: NL
    trust_rank: 3
    record_id: pas
    date_formats: ["%d-%m-%Y"]
    person:
      first_name: voornaam
      last_name: achternaam
      birth_date: geboortedatum
      phone: mobiel
      street: straat
      postcode: postcode
"""

WEB = """id,first_name,last_name,dob,phone,address1,zip,country
W2,Bob,Smith Jr.,04/12/1985,(617) 555-0100,12 Elm St,02134,US
W4,Bill,Johnson,11/05/1970,+1 312.555.0199,233 S Wacker Dr,60606,US
W6,Peggy,O'Neill,12/25/1948,+44 7911 123456,8 Rose Lane,M1 1AE,GB
W10,James,Brown III,01/17/1995,(404) 555-0111,5 Peachtree St NE,30303,US
W7,Jan,van der Berg,02/01/1982,+31 6 12345678,Kalverstraat 1,1012AB,NL
"""

CRM = """ref,name,dob,telephone,address,postcode,country
C2,Mr Robert Smith Jr.,12/04/1985,617-555-0100,12 Elm Street,02134,USA
C3,Robert Smith Sr,,617-555-0100,12 Elm Street,02134-1205,U.S.A.
C4,Dr William H. Johnson,05/11/1970,(312) 555-0199,233 S Wacker Drive,60606-6306,United States of America
C6,Ms Margaret O'Neill,25/12/1948,07911 123456,8 Rose Ln,M1 1AE,England
C9,"Smith, John Jr.",02/03/1968,020 7946 0958,221B Baker Street,NW1 6XE,UK
C7,"Berg, Jan van der",01/02/1982,06 12345678,Kalverstr. 1,1012 AB,Holland
C11,"Vries de, Pieter",06/05/1965,+31 (0)6 2345 6789,Prinsengracht 263,1016GV,The Netherlands
"""

LOYALTY = """pas;voornaam;achternaam;geboortedatum;mobiel;straat;postcode
1001;Jan;Berg, van der;01-02-1982;06-12345678;Kalverstr 1;1012 AB
1002;Pieter;Vries de;06-05-1965;+31 (0)6 2345 6789;Prinsengracht 263;1016 GV
1003;Anneke;de Vries;14-08-1967;06-34567890;Prinsengracht 263;1016GV
"""


def test_british_american_and_dutch_records_are_staged_as_they_were_meant(tmp_path, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES, encoding="utf-8")
    drop = day(-1)
    write(settings.raw_dir, "web_shop", drop, "customers.csv", WEB.encode())
    write(settings.raw_dir, "crm", drop, "contacts.csv", CRM.encode("cp1252"))
    write(settings.raw_dir, "nl_loyalty", drop, "leden.csv", LOYALTY.encode())
    for result in runner.run(settings, console_level="CRITICAL"):
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        staged = {r[0]: r[1:] for r in con.execute(
            "SELECT source || ':' || source_record_id, first_name, last_name, last_name_norm, first_name_canonical, "
            "country, phone IS NOT NULL, postcode, street_norm FROM staging.person_records").fetchall()}
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues ORDER BY 1, 2").fetchall()
        compared = dict(con.execute("SELECT unique_id, postcode FROM identity.linkage_input").fetchall())
    # 'UK', 'USA', 'England', 'Holland' were field issues read as the CRM's GB: the US phones and ZIP codes invalid.
    assert issues == []
    assert {k: v[4] for k, v in staged.items() if k.startswith("crm:")} == {
        "crm:C2": "US", "crm:C3": "US", "crm:C4": "US", "crm:C6": "GB", "crm:C9": "GB", "crm:C7": "NL", "crm:C11": "NL"}
    assert all(v[5] for v in staged.values())  # every phone read
    assert staged["crm:C3"][6] == "02134-1205" and staged["crm:C4"][6] == "60606-6306"
    # ZIP+4 compared as its ZIP, one postcode with the web shop's '02134' (the address's exact levels were lost).
    assert compared["crm:C3"] == compared["web_shop:W2"] == "02134" and compared["crm:C4"] == "60606"
    assert compared["crm:C9"] == "NW1 6XE"
    # A generational suffix stays with the surname: 'Mr Robert Smith Jr.' was given names 'Robert Smith', surname 'Jr.'.
    assert staged["crm:C2"][:2] == ("Robert", "Smith Jr.") and staged["crm:C3"][:2] == ("Robert", "Smith Sr")
    assert staged["crm:C9"][:2] == ("John", "Smith Jr.")
    assert staged["web_shop:W10"][1] == "Brown III"  # displayed 'Brown Iii'
    # Dutch surnames as an alphabetical list writes them: one surname with the web shop's 'van der Berg'.
    assert staged["crm:C7"][:3] == staged["nl_loyalty:1001"][:3] == ("Jan", "van der Berg", "van der berg") \
        == staged["web_shop:W7"][:3]
    assert staged["crm:C11"][2] == staged["nl_loyalty:1002"][2] == staged["nl_loyalty:1003"][2] == "de vries"
    # English short forms and a middle initial: one formal first name.
    assert staged["web_shop:W4"][3] == staged["crm:C4"][3] == "william"
    assert staged["web_shop:W6"][3] == staged["crm:C6"][3] == "margaret"
    assert staged["web_shop:W2"][3] == staged["crm:C2"][3] == "robert"
    # English and Dutch street types: one street however it was typed.
    assert staged["web_shop:W2"][7] == staged["crm:C2"][7] == "12 elm street"
    assert staged["web_shop:W4"][7] == staged["crm:C4"][7] == "233 s wacker drive"
    assert staged["web_shop:W6"][7] == staged["crm:C6"][7] == "8 rose lane"
    assert staged["web_shop:W7"][7] == staged["crm:C7"][7] == staged["nl_loyalty:1001"][7] == "kalverstraat 1"

    # Customer service, in Manchester or Amsterdam: a national number, a postcode as typed, a formal first name where the
    # surviving one is a short form. Phones and postcodes were read as French ('07911 123456' found no one).
    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        customer = dict(con.execute("SELECT x.source || ':' || x.source_record_id, x.customer_id "
                                    "FROM marts.customer_xref x").fetchall())
    for query, record in ((["07911 123456"], "crm:C6"), (["0612345678"], "nl_loyalty:1001"),
                          (["Margaret O'Neill", "--postcode", "m1 1ae"], "web_shop:W6"),
                          (["Peggy O'Neill", "--postcode", "M1 1AE"], "crm:C6"),
                          (["Anneke de Vries", "--postcode", "1016gv"], "nl_loyalty:1003")):
        card = subprocess.run([str(Path(sys.executable).parent / "customer360"), "lookup", *query, "--restricted",
                               str(settings.restricted)], capture_output=True, text=True, timeout=300)
        assert f"=== customer {customer[record]}" in card.stdout, (query, card.stderr)
