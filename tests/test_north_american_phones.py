"""North America's numbers (and Mexico's, Chile's) do not say whether they are mobiles: libphonenumber calls them
fixed-line-or-mobile. They were staged as landlines, so no customer there had a mobile and none could be sent an SMS,
whatever they had opted in to. Such a number may now be the golden record's mobile, and an SMS still needs the opt-in
of that very number."""

from __future__ import annotations

import duckdb

from pipeline.config import Settings
from tests.hostile import day, write
from tests.test_hostile_runs import _run

SOURCES = """
defaults:
  country: US
sources:
  - name: crm
    channel: online
    format: csv
    files: crm/**/*.csv
    record_id: id
    date_formats: ["%m/%d/%Y"]
    person:
      full_name: name
      email: email
      phone: phone
      postcode: zip
  - name: consents
    channel: online
    format: csv
    files: consents/**/*.csv
    record_id: event_id
    updated_at: at
    person:
      email: email
      phone: phone
    activity:
      type: consent
      occurred_at: at
      consent_channel: channel
      consent_action: action
"""


def test_a_number_that_may_be_a_mobile_is_the_mobile_an_sms_opt_in_makes_contactable(tmp_path, cli_env):
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "data" / "warehouse.duckdb",
                        sources_file=tmp_path / "sources.yaml", truth_file=None, first_day=day(-10))
    write(settings.raw_dir, "crm", day(-2), "crm.csv", (
        b"id,name,email,phone,zip\n"
        b'C1,"Smith, John",john.smith@example.com,(415) 555-2671,94105\n'
        b"C2,Mary JOHNSON,mary.j@example.com,212-555-0199,10118\n"))
    write(settings.raw_dir, "consents", day(-1), "events.csv", (
        "event_id,at,email,phone,channel,action\n"
        f"E1,{day(-1)},john.smith@example.com,+1 415 555 2671,SMS,opt-in\n").encode())
    _run(settings)
    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        rows = con.execute("SELECT email, mobile, phone, consent_sms, contactable_sms FROM marts.customer_360 "
                           "ORDER BY email").fetchall()
    assert rows == [("john.smith@example.com", "+14155552671", "+14155552671", "opt_in", True),
                    ("mary.j@example.com", "+12125550199", "+12125550199", "unknown", False)]
