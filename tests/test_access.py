"""Who may see what: the analysts' copy carries no direct identifier (unless a setting allows them), the
restricted copy keeps the full golden record for customer service, pseudonyms are keyed and stable."""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb
import pytest

from assets import runner
from pipeline.normalise.email import normalise_email
from pipeline.normalise.phone import normalise_phone
from pipeline.publish import analyst_select, publish_marts, register_pseudonym
from tests.conftest import copy_demo

IDENTIFYING = ("first_name", "last_name", "birth_date", "email", "phone", "street")


@pytest.fixture(scope="module")
def project(demo_run, tmp_path_factory):
    return copy_demo(demo_run, tmp_path_factory.mktemp("access"))


def _staged_identifiers(settings) -> set[str]:
    """Every name, e-mail, phone, street and birth date staging holds, normalised and as delivered."""
    columns = [c for f in IDENTIFYING for c in (f, f"{f}_raw")] + ["first_name_norm", "last_name_norm", "email_key"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        values = set()
        for c in columns:
            values |= {r[0] for r in con.execute(f"SELECT DISTINCT CAST({c} AS VARCHAR) FROM staging.person_records "
                                                 f"WHERE {c} IS NOT NULL").fetchall()}
    return values


def _found_in(path, values: set[str]) -> dict[str, int]:
    """table.column -> how many distinct cells equal one of `values`, over every column of every table."""
    found = {}
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns").fetchall()
        for schema, table, column in columns:
            cells = {r[0] for r in con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {schema}."{table}"')
                     .fetchall()}
            if hits := len(cells & values):
                found[f"{table}.{column}"] = hits
    return found


def _customer_360(path, columns: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM marts.customer_360 ORDER BY customer_id").fetchall()


def test_the_analysts_copy_holds_no_direct_identifier(project):
    identifiers = _staged_identifiers(project)
    assert len(identifiers) > 1000
    assert _found_in(project.published, identifiers) == {}
    with duckdb.connect(str(project.published), read_only=True) as con:
        columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'customer_360'").fetchall()}
        pseudonymised, bands = con.execute("SELECT count(email_pseudonym), count(DISTINCT age_band) "
                                           "FROM marts.customer_360").fetchall()[0]
    assert not {"first_name", "last_name", "email", "mobile", "landline", "phone", "street", "city", "postcode",
                "birth_date"} & columns
    assert {"email_pseudonym", "phone_pseudonym", "birth_year", "age_band", "departement", "region"} <= columns
    assert pseudonymised > 100 and bands >= 4
    # what analysts use is still there, row for row
    assert _customer_360(project.published, "customer_id, rfm_segment, engagement_score, contactable_email") == \
        _customer_360(project.warehouse, "customer_id, rfm_segment, engagement_score, contactable_email")


def test_the_restricted_copy_keeps_the_full_golden_record(project):
    identifiers = _staged_identifiers(project)
    found = _found_in(project.restricted, identifiers)
    for column in ("first_name", "last_name", "birth_date", "email", "mobile", "street"):
        assert found.get(f"customer_360.{column}", 0) > 50, column
    every = "* EXCLUDE (household_id)"
    assert _customer_360(project.restricted, every) == _customer_360(project.warehouse, every)
    with duckdb.connect(str(project.restricted), read_only=True) as con:  # the lookups the README shows
        customer_id, email, mobile = con.execute("SELECT customer_id, email, mobile FROM marts.customer_360 "
                                                 "WHERE email IS NOT NULL AND mobile LIKE '+33%' LIMIT 1").fetchall()[0]
        typed_mobile = f"0{mobile[3]} {mobile[4:6]} {mobile[6:8]} {mobile[8:10]} {mobile[10:]}"  # as said on the phone
        assert con.execute("SELECT customer_id FROM marts.customer_360 WHERE email = ?",
                           [normalise_email(f" {email.upper()} ")[0]]).fetchall() == [(customer_id,)]
        assert con.execute("SELECT customer_id FROM marts.customer_360 WHERE ? IN (mobile, landline)",
                           [normalise_phone(typed_mobile, "FR")[0]]).fetchall() == [(customer_id,)]


def _publish_only(settings):
    """Rebuild only the published copies from the marts already in the warehouse."""
    for result in runner.run(settings, layers=("published", "restricted")):
        assert result.success


def test_pseudonyms_are_stable_across_runs_and_depend_on_the_secret(project):
    first = _customer_360(project.published, "customer_id, email_pseudonym, phone_pseudonym")
    _publish_only(project)
    assert _customer_360(project.published, "customer_id, email_pseudonym, phone_pseudonym") == first
    assert project.pseudonym_key_file.stat().st_mode & 0o077 == 0  # the generated secret is owner-only
    _publish_only(dataclasses.replace(project, pseudonym_secret="another secret"))  # C360_PSEUDONYM_KEY
    other = {c: e for c, e, _ in _customer_360(project.published, "customer_id, email_pseudonym, phone_pseudonym")}
    changed = [c for c, e, _ in first if e is not None and other[c] != e]
    assert len(changed) == sum(1 for _, e, _ in first if e is not None) > 100


def test_a_setting_allows_identifiers_in_the_analysts_copy(project):
    allowed = dataclasses.replace(project, analyst_identifiers=True)
    _publish_only(allowed)
    every = "* EXCLUDE (household_id)"
    assert _customer_360(project.published, every) == _customer_360(project.warehouse, every)
    _publish_only(project)  # and back
    assert _found_in(project.published, _staged_identifiers(project)) == {}


def test_record_ids_of_a_source_keyed_by_e_mail_are_pseudonymised(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.consent_history AS SELECT * FROM (VALUES
                   ('C1', 'newsletter', 'anne@example.org'), ('C1', 'loyalty_cards', '2900001')) t(customer_id, source,
                   source_record_id)""")
    register_pseudonym(con, b"k")
    publish_marts(con, tmp_path / "p.duckdb", select=analyst_select(["newsletter"]),
                 params={"as_of": date(2026, 11, 24)})
    with duckdb.connect(str(tmp_path / "p.duckdb"), read_only=True) as pub:
        ids = dict(pub.execute("SELECT source, source_record_id FROM marts.consent_history").fetchall())
    assert ids["loyalty_cards"] == "2900001" and len(ids["newsletter"]) == 32 and "@" not in ids["newsletter"]


def test_the_run_report_draws_the_runs_figures_and_no_personal_value(project, tmp_path):
    import re

    from pipeline.run_report import write_report

    page = write_report(project.warehouse, tmp_path / "report.html", threshold=0.8).read_text(encoding="utf-8")
    for title in ("Customers by number of source records", "Match probability of the scored pairs",
                  "Scored pairs per blocking rule", "Data quality per source over runs", "Segment sizes",
                  "Segments over runs"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == 6 and "<script" not in page  # drawn offline, no JavaScript
    text = re.sub(r"<[^>]+>", " ", page)
    values = _staged_identifiers(project)
    assert not set(re.findall(r"[\w@.+'-]+", text)) & values
    assert not [v for v in values if " " in v and v in text]
    assert (tmp_path / "report.html").stat().st_mode & 0o077 == 0


def test_segment_figures_are_kept_per_run_for_analysts(project):
    with duckdb.connect(str(project.published), read_only=True) as con:
        runs = con.execute("SELECT count(DISTINCT run_id) FROM marts.segment_history").fetchone()[0]
        latest = con.execute("""SELECT sum(customers), min(least(email_opt_out_share, contactable_email_share,
                                       contactable_sms_share, contactable_post_share)),
                                       max(greatest(email_opt_out_share, contactable_email_share))
                                FROM marts.segment_history
                                WHERE run_id = (SELECT arg_max(run_id, measured_at) FROM marts.segment_history)
                                """).fetchall()
        published = con.execute("SELECT count(*) FROM marts.customer_360").fetchone()[0]
    assert runs >= 1
    (customers, low, high), = set(latest)
    assert customers == published and 0 <= low <= high <= 1
