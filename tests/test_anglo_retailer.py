"""A UK / Irish / US retailer mapping its own exports through the README's sources file alone (fifteenth session's
sweep), through `customer360 run` and `customer360 lookup`: a US web shop writing one `Full Name` column, a British
CRM whose sources file says `country: UK` (what British systems write; ISO's code is GB), a mailing list whose
`Opted In` column holds `Opted In`, `Y`, `N`, `TRUE` and `Unsubscribed` and which has no channel column, and an Irish
loyalty workbook that asks for the postcode only."""

from __future__ import annotations

import duckdb
import pytest

from assets.cli import main
from pipeline.config import SourcesFileError, load_sources
from tests.hostile import balanced, cli_run, day, project, workbook, write

SOURCES = """
defaults:
  country: USA
sources:
  - name: shop
    channel: online
    format: csv
    files: shop/**/*.csv
    trust_rank: 1
    record_id: Customer ID
    date_formats: ["%m/%d/%Y"]
    person:
      full_name: Full Name
      email: Email
      phone: Phone
      street: Address 1
      postcode: ZIP
      country: Country
      birth_date: Date of Birth
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    country: UK
    trust_rank: 2
    record_id: Ref
    date_formats: ["%d-%b-%y"]
    person:
      civility: Title
      first_name: Forename
      last_name: Surname
      birth_date: DOB
      phone: Mobile
      email: Email
      street: Address Line 1
      postcode: Postcode
    more_contacts:
      phone: Home Phone
  - name: newsletter
    channel: online
    format: csv
    files: newsletter/**/*.csv
    trust_rank: 4
    record_id: Email Address
    updated_at: Last Changed
    date_formats: ["%m/%d/%Y %H:%M"]
    person:
      email: Email Address
      first_name: First Name
      last_name: Last Name
    activity:
      type: consent
      occurred_at: Last Changed
      consent_action: Opted In
      consent_channel: {value: email}
  - name: loyalty
    channel: offline
    format: xlsx
    files: loyalty/**/*.xlsx
    country: Ireland
    trust_rank: 3
    record_id: Card Number
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: First Name(s)
      last_name: Last Name
      birth_date: D.O.B.
      phone: Mobile No.
      postcode: Eircode / Postcode
"""

SHOP = """Customer ID,Full Name,Email,Phone,Address 1,City,State,ZIP,Country,Date of Birth
1001,"SMITH, John",jsmith85@gmail.com,(202) 555-0143 x12,1600 Pennsylvania Ave NW,Washington,DC,20500-0003,US,03/04/1985
1002,John A. Smith Jr.,john.smith.jr@yahoo.com,+1-415-555-0172,500 Market St,San Francisco,Calif.,94105,USA,07/22/1979
1003,Bob Jones,bob.jones77@btinternet.com,07911 123456,10 Downing St,London,,sw1a2aa,United Kingdom,03/12/1985
1004,Mary Taylor,mary.taylor@outlook.com,(312) 555-0199,233 S Wacker Dr,Chicago,IL,60606,USA,11/05/1972
1005,Michael Taylor,mike.taylor@outlook.com,(312) 555-0199,233 S Wacker Dr,Chicago,IL,60606,USA,06/30/1970
1006,Dr. Emily O'Brien,emily.obrien@gmail.com,(415) 555-0123,1 Infinite Loop,Cupertino,CA,95014,US,12/01/1988
"""
CRM = """Ref,Title,Forename,Surname,DOB,Mobile,Home Phone,Email,Address Line 1,Postcode
UK001,Mr,Robert,Jones,12-Mar-85,07911 123456,+44 (0)20 7946 0958,robert.jones@btinternet.com,10 Downing Street,SW1A 2AA
UK002,Mr,David,Brown,02-Feb-60,07712 345678,0113 496 0000,david.brown@sky.com,14 Acacia Avenue,LS1 4AP
UK003,Mrs,Susan,Brown,15-Aug-62,07723 456789,0113 496 0000,,14 Acacia Avenue,LS1 4AP
UK004,Dr,John,Smith,03-Apr-85,07734 567890,,john.smith@hotmail.co.uk,5 Park Row,LS1 5HD
UK005,MR,SEAN,MCCARTHY,09-Jan-77,07745 678901,,,3 Quay Street,M3 3JE
UK006,MS,MCKENZIE,MCINTYRE,21-Jun-91,07756 789012,,,8 Bold Street,L1 4DS
"""
NEWSLETTER = """Email Address,First Name,Last Name,Opted In,Last Changed
jsmith85@gmail.com,John,Smith,Opted In,11/01/2026 09:15
john.smith@hotmail.co.uk,John,Smith,Y,11/02/2026 10:00
mary.taylor@outlook.com,Mary,Taylor,TRUE,11/03/2026 11:30
robert.jones@btinternet.com,Bob,Jones,Unsubscribed,11/04/2026 12:45
mike.taylor@outlook.com,Michael,Taylor,N,11/05/2026 08:00
"""


def _lookup(settings, capsys, *query: str) -> str:
    code = main(["lookup", *query, "--restricted", str(settings.restricted)])
    out = capsys.readouterr()
    return out.out if code == 0 else out.err


def test_a_british_american_retailer_s_own_exports_publish_what_they_mean(tmp_path, capsys, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES, encoding="utf-8")
    for source, text in (("shop", SHOP), ("crm", CRM), ("newsletter", NEWSLETTER)):
        write(settings.raw_dir, source, day(-1), f"{source}.csv", text.encode())
    write(settings.raw_dir, "loyalty", day(-1), "members.xlsx", workbook({"Members": [
        ["Card Number", "First Name(s)", "Last Name", "D.O.B.", "Mobile No.", "Eircode / Postcode"],
        [50003, "Seán", "Kelly", "30/01/1982", "086 765 4321", "T12 R2NP"]]}))
    cli_run(settings, capsys)  # every phone of the CRM was invalid, the list quarantined: sources_healthy blocked it
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        quarantined = con.execute("SELECT count(*) FROM staging.quarantine").fetchone()[0]
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues ORDER BY ALL").fetchall()
        countries = dict(con.execute("SELECT source_record_id, country FROM staging.person_records "
                                     "WHERE source = 'crm'").fetchall())
        capitals = con.execute("SELECT first_name, last_name FROM staging.person_records "
                               "WHERE source_record_id IN ('UK005', 'UK006') ORDER BY source_record_id").fetchall()
    # `country: UK` read as GB: '07911 123456' and '0113 496 0000' were 'Missing or invalid default region', and the
    # staged country 'UK' beside another source's 'GB'. `Opted In`, `Y`, `N` and the missing channel quarantined rows.
    assert quarantined == 0 and issues == []
    assert set(countries.values()) == {"GB"}
    # A CRM in capitals: 'Mccarthy' was published; a first name is not a surname's 'Mc' ('McKenzie', and a typed
    # 'MCIHAEL' was 'McIhael')
    assert capitals == [("Sean", "McCarthy"), ("Mckenzie", "McIntyre")]
    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        xref = dict(con.execute("SELECT source || ':' || source_record_id, customer_id FROM marts.customer_xref")
                    .fetchall())
        consent = dict(con.execute("SELECT email, consent_email FROM marts.customer_360 WHERE email IS NOT NULL")
                       .fetchall())
        titles = dict(con.execute("SELECT email, civility FROM marts.customer_360 WHERE email IS NOT NULL").fetchall())
        kelly = con.execute("SELECT street, postcode, country, address_valid FROM marts.customer_360 "
                            "WHERE last_name = 'Kelly'").fetchone()
    assert consent["jsmith85@gmail.com"] == consent["john.smith@hotmail.co.uk"] == consent["mary.taylor@outlook.com"] \
        == "opt_in"
    assert consent["mike.taylor@outlook.com"] == "opt_out"
    # Titles as their language writes them: 'M.' and 'Mme' for Mr and Mrs ('Dear M. Brown'), and 'Dr' dropped.
    assert (titles["david.brown@sky.com"], titles["john.smith@hotmail.co.uk"]) == ("Mr", "Dr")
    # Bob and Robert Jones are one customer; a couple sharing an address and a landline, and two John Smiths, are not.
    assert xref["shop:1003"] == xref["crm:UK001"] == xref["newsletter:robert.jones@btinternet.com"]
    assert len({xref["crm:UK002"], xref["crm:UK003"]}) == 2 and len({xref["shop:1004"], xref["shop:1005"]}) == 2
    assert len({xref["shop:1001"], xref["shop:1002"], xref["crm:UK004"]}) == 3
    # A card holding a postcode and no street gives the customer its postcode and country (no address to post to):
    # only a record with a street gave an address, and the postcode and country were lost with it.
    assert kelly == (None, "T12R2NP", "IE", False)

    # Customer service: the country as British agents write it, and a ZIP without its +4 (it found no one).
    assert f"=== customer {xref['crm:UK002']}" in _lookup(settings, capsys, "07712 345678", "--country", "UK")
    assert f"=== customer {xref['shop:1001']}" in _lookup(settings, capsys, "John Smith", "--postcode", "20500")
    assert f"=== customer {xref['loyalty:50003']}" in _lookup(settings, capsys, "Sean Kelly", "--postcode", "t12 r2np")
    assert f"=== customer {xref['shop:1006']}" in _lookup(settings, capsys, "Emily OBrien", "--postcode", "95014")
    assert "names no country" in _lookup(settings, capsys, "07712 345678", "--country", "Blighty")


@pytest.mark.parametrize(("line", "message"), [
    ("country: Blighty", r"source 'crm': country 'Blighty' names no country"),
    # a date is no fixed value (it was a TypeError naming nothing)
    ("activity: {type: order, occurred_at: {value: '2026-01-01'}}", r"source 'crm': 'activity.occurred_at' must be a "
                                                                   r"column name, not"),
    ("activity: {type: consent, occurred_at: d, consent_channel: {value: email, column: c}}",
     r"source 'crm': 'activity.consent_channel' must be a column name or \{value: "),
])
def test_a_country_or_fixed_value_that_means_nothing_is_an_error_naming_the_source(tmp_path, line, message):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: crm\n    channel: offline\n    format: csv\n    files: crm/*.csv\n"
                    f"    record_id: id\n    person: {{email: e}}\n    {line}\n", encoding="utf-8")
    with pytest.raises(SourcesFileError, match=message):
        load_sources(path)


def test_an_initial_is_the_given_name_it_opens_not_another_person(tmp_path):
    """Through real Splink, on household-rich data where the first-name conflict is learned as a veto: a CRM writing
    each customer's initial ('Mr J Smith') beside the shop's full given name. 'j' / 'john' was a first-name conflict:
    a veto splitting the person, and among the anchors a conflict that weakens what keeps spouses apart."""
    import pyarrow as pa

    from pipeline.identity import conflicts, link
    from pipeline.identity.evidence import PersonKey
    from tests.test_identity_learning import _household_records

    rows = _household_records().to_pylist()
    for row in rows:
        if row["source_record_id"].endswith("-1") and int(row["source_record_id"].split("-")[0]) % 3 == 0:
            row["first_name"] = row["first_name_canonical"] = row["first_name"][0]
    result = link.train_and_predict(pa.Table.from_pylist(rows), tmp_path)
    first = result.conflicts.weights["first_name"]
    assert first.absolute and first.anchor_conflicts == 0
    saved = conflicts.ConflictModel.load(link.conflicts_path(result.model_path))
    assert not saved.vetoes(PersonKey("a", "a", "fam0", "1980-01-12"), PersonKey("anne", "anne", "fam0", "1980-01-12"))
    assert saved.vetoes(PersonKey("a", "a", "fam0", "1980-01-12"), PersonKey("paul", "paul", "fam0", "1980-01-12"))
