"""A brand's SaaS exports as the tools write them, mapped through the README's sources file alone (issue 14, "data
you will never see"), through `customer360 run`, `lookup` and `audience`: a Shopify customers export (`yes` / `no`
consent columns for e-mail and SMS, phones behind a spreadsheet's apostrophe, no date of any kind), Mailchimp's
subscribed, unsubscribed and cleaned audience files, a HubSpot contacts export and a Salesforce Contact export (a
quoted newline in `MailingStreet`; `HasOptedOutOfEmail`, `DoNotCall` and HubSpot's `Unsubscribed from all email` are
flags whose truth means NO consent)."""

from __future__ import annotations

import csv

import duckdb
import pytest

from assets.cli import main
from pipeline.config import SourcesFileError, load_sources
from tests.hostile import balanced, cli_run, day, project, write

SOURCES = """
defaults:
  country: US
sources:
  - name: shopify
    channel: online
    format: csv
    files: shopify/**/*.csv
    trust_rank: 2
    record_id: Customer ID
    person:
      first_name: First Name
      last_name: Last Name
      email: Email
      phone: Phone
      street: [Default Address Address1, Default Address Address2]
      city: Default Address City
      postcode: Default Address Zip
      country: Default Address Country Code
    more_contacts:
      phone: Default Address Phone
    consent:
      email: Accepts Email Marketing
      sms: Accepts SMS Marketing
  - name: mc_subscribed
    channel: online
    format: csv
    files: mc_subscribed/**/*.csv
    trust_rank: 4
    record_id: Email Address
    updated_at: LAST_CHANGED
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: Email Address
      first_name: First Name
      last_name: Last Name
      phone: Phone Number
    activity:
      type: consent
      occurred_at: CONFIRM_TIME
      consent_action: {value: opt_in}
      consent_channel: {value: email}
  - name: mc_unsubscribed
    channel: online
    format: csv
    files: mc_unsubscribed/**/*.csv
    trust_rank: 4
    record_id: Email Address
    updated_at: LAST_CHANGED
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: Email Address
      first_name: First Name
      last_name: Last Name
      phone: Phone Number
    activity:
      type: consent
      occurred_at: UNSUB_TIME
      consent_action: {value: opt_out}
      consent_channel: {value: email}
  - name: mc_cleaned
    channel: online
    format: csv
    files: mc_cleaned/**/*.csv
    trust_rank: 4
    record_id: Email Address
    updated_at: LAST_CHANGED
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: Email Address
      first_name: First Name
      last_name: Last Name
      phone: Phone Number
    activity:
      type: consent
      occurred_at: CLEAN_TIME
      consent_action: {value: cleaned}
      consent_channel: {value: email}
  - name: hubspot
    channel: online
    format: csv
    files: hubspot/**/*.csv
    trust_rank: 3
    record_id: Record ID
    updated_at: Last Activity Date
    date_formats: ["%Y-%m-%d %H:%M"]
    person:
      first_name: First Name
      last_name: Last Name
      email: Email
      phone: Mobile Phone Number
      street: Street Address
      city: City
      postcode: Postal Code
      country: Country/Region
    more_contacts:
      phone: Phone Number
    consent:
      email: {column: Unsubscribed from all email, true_means: opt_out}
  - name: salesforce
    channel: offline
    format: csv
    files: salesforce/**/*.csv
    trust_rank: 1
    record_id: Id
    updated_at: LastModifiedDate
    person:
      civility: Salutation
      first_name: FirstName
      last_name: LastName
      email: Email
      phone: MobilePhone
      street: MailingStreet
      city: MailingCity
      postcode: MailingPostalCode
      country: MailingCountry
      birth_date: Birthdate
    more_contacts:
      phone: Phone
    consent:
      email: {column: HasOptedOutOfEmail, true_means: opt_out}
      phone: {column: DoNotCall, true_means: opt_out}
"""

SHOPIFY = '''Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags
7049842606290,Emily,Carter,emily.carter@gmail.com,yes,,"1208 Oak Street",Apt 4B,Portland,OR,US,97205,'+15035550147,'+15035550147,no,412.80,5,"Prefers ""gift wrap""",no,"VIP, Newsletter"
7049842639058,Liam,O'Connor,liam.oconnor@outlook.com,no,Maple Leaf Outfitters,"55 King Street West",Suite 900,Toronto,ON,CA,M5K 1E7,'+14165550198,'+14165550198,yes,1249.00,12,,yes,Wholesale
7049842671826,Sofia,Hernández,sofia.h@yahoo.com,yes,,"300 Congress Ave",,Austin,TX,US,78701,,'+15125550111,yes,0.00,0,,no,
7049842704594,James,Walker,,no,,"77 Elm Rd",,Springfield,IL,US,62701,'+12175550164,'+12175550164,yes,89.95,1,Phone orders only,no,
'''
MC_SUBSCRIBED = '''Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS
emily.carter@gmail.com,Emily,Carter,"1208 Oak Street  Apt 4B  Portland  OR  97205  US",503-555-0147,4,"2024-02-11 18:03:44",203.0.113.24,"2024-02-11 18:05:02",203.0.113.24,45.5152000,-122.6784000,-8,-7,America/Los_Angeles,US,OR,"2025-06-02 09:12:40",118004921,a3f9c2e1b7,,"""VIP"""
sofia.h@yahoo.com,Sofia,Hernandez,,(512) 555-0111,2,"2025-01-07 12:00:10",198.51.100.7,"2025-01-07 12:01:33",198.51.100.7,,,,,,,,"2025-01-07 12:01:33",118004987,b7c1d0e4f2,,
'''
MC_UNSUBSCRIBED = '''Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON,UNSUB_REASON_OTHER,LAST_CHANGED,LEID,EUID,NOTES,TAGS
liam.oconnor@outlook.com,Liam,O'Connor,,,1,"2023-09-14 08:22:01",192.0.2.10,"2023-09-14 08:25:47",192.0.2.10,43.6532000,-79.3832000,-5,-4,America/Toronto,CA,ON,"2025-03-03 17:40:12","Spring Sale 2025",NORMAL,,"2025-03-03 17:40:12",118004933,c4d8e2a1f9,,
'''
MC_CLEANED = '''Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,LAST_CHANGED,LEID,EUID,NOTES,TAGS
e.carter@oldmail.com,Emily,Carter,,,1,"2019-05-20 10:10:10",,"2019-05-20 10:11:00",,,,,,,,,"2024-11-30 06:00:00","Black Friday 2024","2024-11-30 06:00:00",118003001,d9e0f1a2b3,,
'''
HUBSPOT = '''Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Street Address,City,State/Region,Postal Code,Country/Region,Marketing contact status,Unsubscribed from all email,Create Date,Last Activity Date
51234501,Emily,Carter,emily.carter@gmail.com,+1 503-555-0147,,1208 Oak St Apt 4B,Portland,Oregon,97205,United States,Marketing contact,true,2024-01-15 09:30,2026-10-02 14:11
51234502,Liam,O'Connor,liam.oconnor@outlook.com,,+1 (416) 555-0198,55 King St W,Toronto,Ontario,M5K1E7,Canada,Non-marketing contact,,2023-08-01 11:00,
51234503,Ava,Nguyen,ava.nguyen@protonmail.com,,+1 617 555 0123,100 Federal St,Boston,Massachusetts,02110,United States,Marketing contact,false,2025-05-05 16:45,2026-11-20 08:00
'''
SALESFORCE = '''"Id","Salutation","FirstName","LastName","Email","Phone","MobilePhone","MailingStreet","MailingCity","MailingState","MailingPostalCode","MailingCountry","Birthdate","HasOptedOutOfEmail","DoNotCall","LastModifiedDate"
"0035g00000XyZa1AAB","Ms.","Emily","Carter","emily.carter@gmail.com","(503) 555-0147","","1208 Oak Street
Apt 4B","Portland","OR","97205","USA","1988-04-12","false","true","2026-09-14T16:20:05.000Z"
"0035g00000XyZa2AAB","Mr.","Liam","O'Connor","liam.oconnor@outlook.com","","416-555-0198","55 King Street West
Suite 900","Toronto","ON","M5K 1E7","Canada","1979-11-02","true","false","2026-08-01T09:00:00.000Z"
"0035g00000XyZa3AAB","Dr.","Ava","Nguyen","ava.nguyen@protonmail.com","617-555-0123","","100 Federal Street","Boston","MA","02110","United States","","false","false","2026-07-07T12:00:00.000Z"
'''

FILES = {"shopify": ("customers_export.csv", SHOPIFY),
         "mc_subscribed": ("subscribed_members_export_4f2a9c1b7e.csv", MC_SUBSCRIBED),
         "mc_unsubscribed": ("unsubscribed_members_export_4f2a9c1b7e.csv", MC_UNSUBSCRIBED),
         "mc_cleaned": ("cleaned_members_export_4f2a9c1b7e.csv", MC_CLEANED),
         "hubspot": ("hubspot-crm-exports-all-contacts-2026-11-28.csv", HUBSPOT),
         "salesforce": ("Contact.csv", SALESFORCE.replace("\n", "\r\n"))}  # Data Loader's CRLF, the newline in a field


def _lookup(settings, capsys, query: str) -> str:
    assert main(["lookup", query, "--restricted", str(settings.restricted)]) == 0
    return capsys.readouterr().out


def test_four_saas_exports_publish_one_customer_per_person_with_each_consent_as_its_tool_means_it(
        tmp_path, capsys, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES, encoding="utf-8")
    for source, (name, text) in FILES.items():
        write(settings.raw_dir, source, day(-1), name, text.encode())
    cli_run(settings, capsys)  # main: 'consent' is no key of the sources file (every flag was one source more,
    balanced(settings)         # its `true` read as opt_in); HubSpot's empty flag and `cleaned` quarantined persons
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.quarantine").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM staging.field_issues").fetchone()[0] == 0
    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        xref = dict(con.execute("SELECT source || ':' || source_record_id, customer_id FROM marts.customer_xref")
                    .fetchall())
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT email, consent_email, consent_sms, contactable_email, contactable_sms FROM marts.customer_360 "
            "WHERE email IS NOT NULL").fetchall()}
        emily = con.execute("SELECT source, action, occurred_at::DATE::VARCHAR FROM marts.consent_history "
                            "WHERE customer_id = ? AND channel = 'email' ORDER BY ALL",
                            [xref["shopify:7049842606290"]]).fetchall()
    # One person in all four tools is one customer.
    assert xref["shopify:7049842606290"] == xref["mc_subscribed:emily.carter@gmail.com"] == xref["hubspot:51234501"] \
        == xref["salesforce:0035g00000XyZa1AAB"]
    assert xref["shopify:7049842639058"] == xref["mc_unsubscribed:liam.oconnor@outlook.com"] \
        == xref["hubspot:51234502"] == xref["salesforce:0035g00000XyZa2AAB"]
    # Emily: Mailchimp's opt-in of 2024, then on the export day Shopify's `yes` and HubSpot's unsubscribed flag (true):
    # the opt-out wins the tie. Each event keeps its source and time.
    assert emily == [("hubspot", "opt_out", day(-1)), ("mc_subscribed", "opt_in", "2024-02-11"),
                     ("shopify", "opt_in", day(-1))]
    assert rows["emily.carter@gmail.com"] == ("opt_out", "opt_out", False, False)
    # Ava: HubSpot's and Salesforce's opt-out flags both false: no consent given (main: opt_out, or opt_in for a
    # Salesforce `false` read as a consent action).
    assert rows["ava.nguyen@protonmail.com"][:1] == ("unknown",)
    # Liam: Salesforce HasOptedOutOfEmail true and Mailchimp's unsubscribe; Shopify's `yes` to SMS on his mobile.
    assert rows["liam.oconnor@outlook.com"] == ("opt_out", "opt_in", False, True)
    assert rows["sofia.h@yahoo.com"][2] is True
    # Mailchimp's cleaned (bounced) address is kept, not contactable; HubSpot's contact with an empty flag is kept.
    assert rows["e.carter@oldmail.com"] == ("unknown", "unknown", False, False)
    assert "hubspot:51234502" in xref

    out = tmp_path / "exports" / "newsletter.csv"
    assert main(["audience", "--channel", "email", "--out", str(out), "--restricted", str(settings.restricted),
                 "--warehouse", str(settings.warehouse)]) == 0
    with out.open(encoding="utf-8") as f:
        assert [r["email"] for r in csv.DictReader(f)] == ["sofia.h@yahoo.com"]
    history = _lookup(settings, capsys, "emily.carter@gmail.com").split("--- consent history")[1].split("---")[0]
    assert all(s in history for s in ("mc_subscribed", "hubspot", "shopify", "salesforce", "2024-02-11 18:05:02"))


STATUSES = """Email Address,First Name,Last Name,Status,Last Changed
ann@example.com,Ann,Lee,subscribed,2026-11-02 10:00:00
bob@example.com,Bob,Ray,pending,2026-11-03 10:00:00
cat@example.com,Cat,Fox,cleaned,2026-11-04 10:00:00
dan@example.com,Dan,Oak,,
eve@example.com,Eve,Elm,Subscribed!?,2026-11-05 10:00:00
"""


def test_a_mailing_list_status_that_is_no_consent_keeps_its_person_and_gives_no_event(tmp_path, capsys, cli_env):
    """`pending` (a double opt-in not confirmed), `cleaned` (a bounced address), an empty status or an unreadable one:
    each quarantined its record, person and all, and the quarantine share blocked the run. Dan's row has no date: the
    consent of Ann is dated by its column, and an undated one would be by its drop day."""
    settings = project(tmp_path, more_sources="""
  - name: audience
    channel: online
    format: csv
    files: audience/**/*.csv
    record_id: Email Address
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person: {email: Email Address, first_name: First Name, last_name: Last Name}
    activity: {type: consent, occurred_at: Last Changed, consent_action: Status, consent_channel: {value: email}}
""")
    write(settings.raw_dir, "audience", day(-1), "members.csv", STATUSES.encode())
    cli_run(settings, capsys)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        quarantined = con.execute("SELECT count(*) FROM staging.quarantine WHERE source = 'audience'").fetchone()[0]
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues "
                             "WHERE source = 'audience'").fetchall()
        events = con.execute("SELECT source_record_id, consent_action FROM staging.activities "
                             "WHERE source = 'audience'").fetchall()
    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        consent = dict(con.execute("SELECT email, consent_email FROM marts.customer_360 WHERE email LIKE '%@example.com'")
                       .fetchall())
    assert quarantined == 0 and issues == [("eve@example.com", "consent_action")]
    assert events == [("ann@example.com", "opt_in")]
    assert consent == {"ann@example.com": "opt_in", "bob@example.com": "unknown", "cat@example.com": "unknown",
                       "dan@example.com": "unknown", "eve@example.com": "unknown"}


@pytest.mark.parametrize(("consent", "message"), [
    ("{email: {column: HasOptedOutOfEmail, true_means: unsubscribed}}", r"source 'crm': 'consent.email' must be a "),
    ("{fax: Fax}", r"source 'crm': consent maps channels"),
])
def test_a_consent_column_that_means_nothing_is_an_error_naming_the_source(tmp_path, consent, message):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: crm\n    channel: offline\n    format: csv\n    files: crm/*.csv\n"
                    f"    record_id: id\n    person: {{email: e}}\n    consent: {consent}\n", encoding="utf-8")
    with pytest.raises(SourcesFileError, match=message):
        load_sources(path)
