"""Consent and erasure over several deliveries, as the data-protection officer and marketing meet them (issue 14):
the SaaS exports of tests/test_saas_exports.py delivered again day after day, through `customer360 run`, `lookup`
and `audience`. One project, two runs (three drop days, then a fourth), shared by every test of the module:
- a bounced address (Mailchimp `cleaned`) stays undeliverable whatever opt-in another source gives it later;
- a consent stated without a date (Shopify's `Accepts Email Marketing`) keeps the day it was first stated while the
  export repeats it unchanged: it ages into re-permission, and a dated opt-in given since beats it;
- a person whose shop record came back with a new e-mail and no phone is erased by a request naming the e-mail the
  record held, and stays erased; one already erased and delivered again so stays erased too."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.hostile import FORGET_YAML, day, write
from tests.test_saas_exports import SOURCES

CLI = str(Path(sys.executable).parent / "customer360")
D1, D2, D3 = day(-30), day(-25), day(-1)
SHOPIFY_HEADER = ("Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
                  "Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,"
                  "Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,"
                  "Total Spent,Total Orders,Note,Tax Exempt,Tags")
LIAM = "7049842639058,Liam,O'Connor,liam.oconnor@outlook.com,no,,55 King Street West,,Toronto,ON,CA,M5K 1E7,,'+14165550198,no,0,0,,no,"
NOAH = "7049842700001,Noah,Brooks,noah.brooks@example.com,yes,,12 Pine Road,,Austin,TX,US,78702,,'+15125550177,yes,0,0,,no,"
GRACE = "7049842700002,Grace,Hall,grace.hall@example.net,yes,,9 Birch Lane,,Denver,CO,US,80202,,'+13035550133,no,0,0,,no,"
MIA = "7049842700003,Mia,Ross,mia.ross@example.com,yes,,40 Cedar Court,,Seattle,WA,US,98101,,'+12065550111,yes,0,0,,no,"
# Mia, delivered again by the shop on D3 under her record id with a new e-mail and no phone, the day her request to be
# forgotten (naming the e-mail she gave the shop) arrives.
MIA_AGAIN = "7049842700003,Mia,Ross,mia.r.new@example.org,yes,,40 Cedar Court,,Seattle,WA,US,98101,,,no,0,0,,no,"
# Ben, erased on D2 (his request names his e-mail), delivered again on D3 under his record id with a new e-mail.
BEN = "7049842700004,Ben,Ford,ben.ford@example.com,yes,,3 Ash Street,,Boise,ID,US,83702,,'+12085550142,no,0,0,,no,"
BEN_AGAIN = "7049842700004,Ben,Ford,ben.f@example.org,yes,,3 Ash Street,,Boise,ID,US,83702,,,no,0,0,,no,"
MC_HEADER = ("Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,"
             "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS")
CLEANED_HEADER = ("Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,"
                  "CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,CLEAN_TIME,"
                  "CLEAN_CAMPAIGN_TITLE,LAST_CHANGED,LEID,EUID,NOTES,TAGS")
# Grace's address bounced in a campaign a year ago; the shop's export has said `yes` for it since D1.
GRACE_CLEANED = (f"{CLEANED_HEADER}\ngrace.hall@example.net,Grace,Hall,,,1,,,,,,,,,,,,\"{day(-400)} 06:00:00\","
                 f"Winter,\"{day(-400)} 06:00:00\",1,x,,\n")
# Liam confirmed Mailchimp's double opt-in on day -10, after the shop first said `no` (D1), before it said so again.
LIAM_SUBSCRIBED = (f"{MC_HEADER}\nliam.oconnor@outlook.com,Liam,O'Connor,,,3,,,\"{day(-10)} 10:00:00\",,,,,,,,,"
                   f"\"{day(-10)} 10:00:00\",2,y,,\n")


def _shopify(*rows: str) -> bytes:
    return ("\n".join((SHOPIFY_HEADER, *rows)) + "\n").encode()


def _hash(point: str) -> str:
    return hashlib.sha256(point.encode()).hexdigest()


@dataclass
class Project:
    root: Path
    env: dict
    warehouse: Path
    restricted: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], capture_output=True, text=True, env=self.env, timeout=900)

    def run(self) -> None:
        done = self.cli("run", "--raw-dir", str(self.root / "raw"), "--warehouse", str(self.warehouse),
                        "--sources", str(self.root / "sources.yaml"), "--truth", "", "--quiet")
        assert done.returncode == 0, done.stderr[-3000:]

    def rows(self, sql: str, params: list | None = None, copy: str = "restricted") -> list[tuple]:
        with duckdb.connect(str(self.restricted if copy == "restricted" else self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """Run 1: D1 and D2 delivered (the shop's export twice, unchanged; Mailchimp's files; Ben's erasure request).
    Run 2: the shop's export of D3, Mia and Ben in it under new e-mails, and Mia's erasure request."""
    root = tmp_path_factory.mktemp("consent_lifecycle")
    raw = root / "raw"
    (root / "sources.yaml").write_text(SOURCES + FORGET_YAML, encoding="utf-8")
    (root / "dagster_home").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "C360_FIRST_DAY": day(-40),
           "C360_REPERMISSION_DAYS": "20", "C360_RETENTION_DAYS": "36500",
           "C360_MAX_SHRINK": "1"}  # one erasure of four customers is 25 %
    project = Project(root, env, root / "data" / "warehouse.duckdb", root / "data" / "restricted.duckdb")
    for drop in (D1, D2):
        write(raw, "shopify", drop, "customers_export.csv", _shopify(LIAM, NOAH, GRACE, MIA, BEN))
    write(raw, "mc_cleaned", D1, "cleaned_members_export.csv", GRACE_CLEANED.encode())
    write(raw, "mc_subscribed", day(-9), "subscribed_members_export.csv", LIAM_SUBSCRIBED.encode())
    write(raw, "forget", D2, "requests.csv", f"request_id,email,requested_at\nR1,ben.ford@example.com,{D2}\n".encode())
    project.run()
    write(raw, "shopify", D3, "customers_export.csv", _shopify(LIAM, NOAH, GRACE, MIA_AGAIN, BEN_AGAIN))
    write(raw, "forget", D3, "requests.csv", f"request_id,email,requested_at\nR2,mia.ross@example.com,{D3}\n".encode())
    project.run()
    return project


def _customer(project: Project, source: str, record: str) -> str:
    return project.rows("SELECT customer_id FROM marts.customer_xref WHERE source = ? AND source_record_id = ?",
                        [source, record])[0][0]


def test_a_bounced_address_stays_undeliverable_whatever_later_opt_in_another_source_gives(project):
    """main: the shop's `yes` of D1 (after the bounce) made Grace's address contactable, and it was in no suppression
    list."""
    grace = _customer(project, "shopify", "7049842700002")
    assert project.rows("SELECT email, consent_email, contactable_email FROM marts.customer_360 WHERE customer_id = ?",
                        [grace]) == [("grace.hall@example.net", "opt_in", False)]
    out = project.root / "exports" / "newsletter.csv"
    done = project.cli("audience", "--channel", "email", "--out", str(out), "--restricted", str(project.restricted),
                       "--warehouse", str(project.warehouse))
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8") as f:
        assert "grace.hall@example.net" not in {r["email"] for r in csv.DictReader(f)}
    with out.with_name("newsletter.suppression.csv").open(encoding="utf-8") as f:
        suppressed = {(r["identifier_hash"], r["reason"]) for r in csv.DictReader(f)}
    assert (_hash("email:grace.hall@example.net"), "undeliverable") in suppressed
    looked_up = project.cli("lookup", "grace.hall@example.net", "--restricted", str(project.restricted))
    assert looked_up.returncode == 0 and "undeliverable_since" in looked_up.stdout


def test_an_undated_consent_repeated_unchanged_keeps_the_day_it_was_first_stated(project):
    """main: each re-delivery of the shop's export re-dated its `yes` / `no` to the newest drop day (D3), so Noah's
    opt-in never aged into re-permission and the shop's repeated `no` beat Liam's dated Mailchimp opt-in of day -10."""
    noah, liam = _customer(project, "shopify", "7049842700001"), _customer(project, "shopify", "7049842639058")
    history = project.rows("SELECT source, channel, action, occurred_at::DATE::VARCHAR FROM marts.consent_history "
                           "WHERE customer_id = ? ORDER BY ALL", [noah])
    assert history == [("shopify", "email", "opt_in", D1), ("shopify", "sms", "opt_in", D1)]
    assert project.rows("SELECT consent_email, needs_repermission_email, contactable_email FROM marts.customer_360 "
                        "WHERE customer_id = ?", [noah]) == [("opt_in", True, True)]
    assert project.rows("SELECT consent_email, contactable_email FROM marts.customer_360 WHERE customer_id = ?",
                        [liam]) == [("opt_in", True)]


def test_a_record_that_held_the_requested_email_is_erased_and_an_erased_record_delivered_again_stays_erased(project):
    """main: Mia's request named the e-mail her shop record held until D3's export replaced it (new e-mail, no phone):
    it matched no one, and Mia stayed a published customer (Ben, erased on D2, held: his record key is registered)."""
    emails = {r[0] for r in project.rows("SELECT email FROM marts.customer_360")}
    assert not emails & {"mia.r.new@example.org", "mia.ross@example.com", "ben.f@example.org", "ben.ford@example.com"}
    assert project.rows("SELECT source_record_id FROM marts.customer_xref WHERE source_record_id IN "
                        "('7049842700003', '7049842700004')") == []
    for email in ("mia.r.new@example.org", "ben.f@example.org"):
        looked_up = project.cli("lookup", email, "--restricted", str(project.restricted))
        assert "Ross" not in looked_up.stdout and "Ford" not in looked_up.stdout
    # whom each request erased, for the officer's answer; and nothing of Mia's left in staging
    assert sorted(r[0] for r in project.rows("SELECT request_id FROM identity.erasure_matches",
                                             copy="warehouse")) == ["R1", "R2"]
    assert project.rows("SELECT count(*) FROM staging.person_records WHERE email IN "
                        "('mia.r.new@example.org', 'ben.f@example.org')", copy="warehouse") == [(0,)]
