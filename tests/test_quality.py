"""Great Expectations checks on a real run: a clean demo passes them all; each broken delivery fails the
right check with a readable message, and the previously published marts are left unchanged."""

import csv
import io
import re
import shutil

import duckdb
import pandas as pd
import pytest

from assets import runner
from assets.sources import FILES_LOADED
from assets.staging import STAGED_LINES_SQL
from pipeline.config import Settings, load_sources
from pipeline.quality.scorecard import source_quality_sql
from pipeline.staging import NO_DATE_NOR_PERSON, NO_PERSON_REASON
from pipeline.staging_changes import _create_tables
from tests.conftest import checks, copy_demo


def _run(settings: Settings):
    """The run as `customer360 run` does it; its last Dagster run (the one with the checks)."""
    return runner.run(settings)[-1]


def _published(settings: Settings) -> dict:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").df()
                for t in ("customer_360", "household", "segment_summary", "consent_history")}


@pytest.fixture(scope="module")
def clean(demo_run, tmp_path_factory):
    """The demo's warehouse (copied: the broken deliveries below run on it) and the run that built it."""
    return copy_demo(demo_run, tmp_path_factory.mktemp("quality")), demo_run.result


def test_a_clean_demo_passes_every_check_and_builds_data_docs(clean):
    settings, result = clean
    found = checks(result)
    assert result.success and all(c.passed for c in found.values()), {n: c.description for n, c in found.items()}
    assert {"staging_persons_valid", "sources_healthy", "consent_values_allowed", "identity_clusters_valid",
            "customer_360_valid", "raw_rows_reconcile", "every_person_record_once"} <= set(found)
    assert (settings.quality_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        sources = con.execute("SELECT count(DISTINCT source), max(quarantine_share) FROM marts.data_quality").fetchall()[0]
    assert sources[0] == 9 and sources[1] < 0.05


def _break(settings: Settings, tmp_path, source: str, edit) -> Settings:
    """A copy of the raw drops with one source's file rewritten by `edit(text) -> text`; same warehouse."""
    raw = tmp_path / "raw"
    shutil.copytree(settings.raw_dir, raw)
    path = next((raw / source).rglob("*.*"))
    encoding = "latin-1" if source in ("loyalty_cards", "store_receipts") else "utf-8"
    path.write_text(edit(path.read_text(encoding=encoding)), encoding=encoding)
    return Settings(raw_dir=raw, warehouse=settings.warehouse, sources_file=settings.sources_file,
                    truth_file=None, as_of=settings.as_of)


def _rewrite_column(text: str, column: str, value: str, delimiter: str = ",") -> str:
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, column: value} for r in rows)
    return out.getvalue()


@pytest.mark.parametrize("source, edit, check, message", [
    ("loyalty_cards", lambda t: _rewrite_column(t, "telephone", "n/a 00", ";"), "sources_healthy",
     r"loyalty_cards: \d+\.\d% valid phones, at least 50% expected"),
    ("consent_events", lambda t: _rewrite_column(t, "email", "nobody at all"), "sources_healthy",
     r"consent_events: \d+\.\d% valid e-mails, at least 50% expected"),
    ("consent_events", lambda t: _rewrite_column(t, "action", "maybe"), "sources_healthy",
     r"consent_events: \d+\.\d% consent cells read, at least 50% expected"),  # quarantined, person and all, on main
])
def test_a_broken_delivery_fails_the_right_check_and_leaves_the_marts(clean, tmp_path, source, edit, check, message):
    settings, _ = clean
    before = _published(settings)
    result = _run(_break(settings, tmp_path, source, edit))
    found = checks(result)
    assert not result.success and not found[check].passed
    assert re.search(message, found[check].description)  # the measured share and its limit
    after = _published(settings)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[table], obj=f"marts.{table}")


def test_a_file_delivered_twice_is_flagged_and_skipped(clean, tmp_path):
    settings, _ = clean
    raw = tmp_path / "raw"
    shutil.copytree(settings.raw_dir, raw)
    first = next((raw / "web_orders").rglob("*.csv"))
    (raw / "web_orders" / "2026-11-24").mkdir()
    shutil.copy(first, raw / "web_orders" / "2026-11-24" / "web_orders.csv")
    twice = Settings(raw_dir=raw, warehouse=settings.warehouse, sources_file=settings.sources_file,
                     truth_file=None, as_of=settings.as_of)
    result = _run(twice)
    dup = [c for (_, n), c in checks(result, by_asset=True).items() if n == FILES_LOADED and not c.passed]
    assert result.success and len(dup) == 1  # a warning: the duplicate was skipped, publication goes on
    assert "duplicate of web_orders/2026-11-23/web_orders.csv" in dup[0].description


def test_the_staged_persons_check_reads_the_columns_its_suite_names_and_still_fails_on_a_missing_one(tmp_path):
    """The check hands GX only the columns its suite names (assets/quality.py): every named column is read or
    derived in SQL, and a column the table lacks is left out of the frame, so GX still fails the run on it."""
    from datetime import date

    from pipeline.quality import suites
    from pipeline.quality.gx_runner import GXRunner

    expectations = suites.staging_persons(date.today())
    named = {n for e in expectations for n in [e.configuration.kwargs.get("column"),
                                               *(e.configuration.kwargs.get("column_list") or []),
                                               *(e.configuration.kwargs.get("column_set") or [])] if n}
    read = suites.columns_read(expectations)
    assert named == set(read) | set(suites.DERIVED) and not set(read) & set(suites.DERIVED)
    row = {"source": "crm", "source_record_id": "1", "first_name_norm": "anne", "last_name_norm": "martin",
           "birth_date": pd.Timestamp("1980-01-02"), "email": "a@b.fr", "email_valid": True, "phone": "+33612345678",
           "phone_valid": True, "postcode": "75009", "record_updated_at": pd.Timestamp("2026-11-01"),
           "key_count": 1, "birth_year": 1980.0, "valid_email": "a@b.fr", "fr_postcode": "75009"}
    runner_ = GXRunner(tmp_path / "quality")
    assert runner_.run("staging_persons", pd.DataFrame([row]), expectations).success
    lacking = runner_.run("staging_persons", pd.DataFrame([row]).drop(columns=["phone_valid"]),
                          suites.staging_persons(date.today()))  # a suite's expectations belong to it once run
    assert not lacking.success
    assert [(f["expectation"], f["target"]) for f in lacking.failures] == [("expect_table_columns_to_match_set", "phone_valid")]


def test_the_staged_persons_check_reads_values_only_where_an_expectation_does_and_fails_on_a_repeated_key(tmp_path):
    """Columns checked for presence only reach GX as NULLs (assets/quality.py): the suite still passes on them, and
    a key seen twice in the table (key_count, counted in SQL over the whole table) or a bad phone still fails it."""
    from datetime import date

    from pipeline.quality import suites
    from pipeline.quality.gx_runner import GXRunner

    valued = suites.values_read(suites.staging_persons(date.today()))
    assert set(valued) == {"source", "source_record_id", "phone"}
    rows = pd.DataFrame([dict.fromkeys(suites.columns_read(suites.staging_persons(date.today())))
                         | {"source": "crm", "source_record_id": str(i), "phone": "+33612345678", "key_count": 1,
                            "birth_year": 1980.0, "valid_email": "a@b.fr", "fr_postcode": "75009"} for i in range(3)])
    runner_ = GXRunner(tmp_path / "quality")
    assert runner_.run("staging_persons", rows, suites.staging_persons(date.today())).success
    repeated = rows.assign(key_count=[1, 2, 1])
    bad_phone = rows.assign(phone=["+33612345678", "0612345678", None])
    for frame, target in ((repeated, "key_count"), (bad_phone, "phone")):
        result = runner_.run("staging_persons", frame, suites.staging_persons(date.today()))
        assert not result.success
        assert [(f["target"], f["unexpected_count"]) for f in result.failures] == [(target, 1)]


def test_a_later_day_is_validated_on_its_own_rows_and_a_bad_one_still_blocks_publication(demo_copy):
    """The staged-persons check hands GX only the rows of files not validated yet (one checkpoint over what the day
    staged; each key still counted over the whole table): a bad value staged on a later day fails it, the published
    marts stay as they were, and the day's file stays unvalidated, so the next run checks it again."""
    from pipeline.staging_lookup import TABLE, VERSION

    settings = demo_copy
    first = next((settings.raw_dir / "loyalty_cards").rglob("*.csv"))
    header, *lines = first.read_text(encoding="latin-1").splitlines()
    columns = header.split(";")
    fields = next(f for line in lines if '"' not in line and len(f := line.split(";")) == len(columns))  # a sound line
    fields[columns.index("num_carte")] = "2999999999999"  # a new card
    fields[columns.index("telephone")] = "07 00 00 00 01"  # a phone no earlier day sent
    day = settings.raw_dir / "loyalty_cards" / "2026-11-24"
    day.mkdir()
    (day / "late.csv").write_text(f"{header}\n{';'.join(fields)}\n", encoding="latin-1")
    # A corrupt result in the normalisation lookup (read back, never normalised again): the day's phone is staged
    # as an impossible E.164 number.
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(f"INSERT INTO {TABLE} VALUES ('phone', 'FR', '07 00 00 00 01', ?, '[\"+0700\", true, \"mobile\", null]')",
                    [VERSION])
    before = _published(settings)
    copy_before = settings.published.read_bytes()
    result = _run(settings)
    found = checks(result)
    assert not result.success and not found["staging_persons_valid"].passed
    assert "expect_column_values_to_match_regex(phone)" in found["staging_persons_valid"].description
    assert found["staging_persons_valid"].metadata["rows_validated"].value == 1  # the day's row, not the table
    after = _published(settings)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[table], obj=f"marts.{table}")
    assert settings.published.read_bytes() == copy_before
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT phone FROM staging.person_records WHERE source_record_id = '2999999999999'"
                           ).fetchall() == [("+0700",)]
        assert con.execute("SELECT validated FROM staging.staged_files WHERE file = 'loyalty_cards/2026-11-24/late.csv'"
                           ).fetchall() == [(False,)]


def test_an_incremental_day_validates_its_rows_and_still_counts_every_customer_once(demo_copy):
    """On an incremental day customer_360_valid hands GX the value columns of the rows computed that day and only the
    ids of the table's other customers (their rows are as validated when written), so the row count and the unique
    ids stay whole-table: a customer held twice in the table, not recomputed that day, still fails it, and the
    published copy stays as it was."""
    settings = demo_copy
    with duckdb.connect(str(settings.warehouse)) as con:
        twice = con.execute("SELECT customer_id FROM marts.customer_360 ORDER BY customer_id LIMIT 1").fetchall()[0][0]
        con.execute("INSERT INTO marts.customer_360_rows SELECT * FROM marts.customer_360_rows WHERE customer_id = ?",
                    [twice])  # the view's stored rows
    copy_before = settings.published.read_bytes()
    result = _run(settings)
    found = checks(result)
    assert not result.success and not found["customer_360_valid"].passed
    failed = found["customer_360_valid"].description
    assert "expect_column_values_to_be_unique(customer_id)" in failed and "expect_table_row_count_to_equal" in failed
    assert settings.published.read_bytes() == copy_before


def test_the_clusters_check_validates_the_rows_written_and_counts_the_whole_table_in_sql(demo_copy, tmp_path):
    """The clusters check hands GX only the rows the clusters step wrote (assets/quality.py); the whole table's
    invariants are counted in SQL, so a record without a cluster, a repeated id, an oversized cluster or an unhealthy
    model fail it whichever rows a day wrote, and a bad row written fails it in GX."""
    from assets.quality import identity_clusters_valid
    from assets.resources import GreatExpectations

    great_expectations = GreatExpectations(project_dir=str(tmp_path / "gx"))
    largest = demo_copy.linkage.max_cluster_size
    with duckdb.connect(str(demo_copy.warehouse)) as con:
        staged = con.execute("SELECT count(*) FROM staging.person_records").fetchone()[0]
        con.execute("CREATE TEMP TABLE _written AS FROM identity.clusters LIMIT 0")
        quiet = identity_clusters_valid(con, "_written", great_expectations, demo_copy)  # a day that rewrote nothing
        every = identity_clusters_valid(con, "identity.clusters", great_expectations, demo_copy)
        assert quiet.passed and quiet.metadata["rows_validated"].value == 0
        assert every.passed and every.metadata["rows_validated"].value == staged
        con.execute("INSERT INTO _written SELECT * REPLACE (? AS cluster_size) FROM identity.clusters LIMIT 1",
                    [largest + 1])
        oversized = identity_clusters_valid(con, "_written", great_expectations, demo_copy)
        assert not oversized.passed and "expect_column_values_to_be_between(cluster_size)" in oversized.description
        con.execute("DELETE FROM _written")
        broken = {  # each breaks a row the day did not write
            "DELETE FROM identity.clusters WHERE unique_id = (SELECT min(unique_id) FROM identity.clusters)":
                f"{staged - 1} clustered records for {staged} staged",
            "UPDATE identity.clusters SET unique_id = (SELECT min(unique_id) FROM identity.clusters) "
            "WHERE unique_id = (SELECT max(unique_id) FROM identity.clusters)": "1 repeated record ids",
            "UPDATE identity.clusters SET cluster_key = NULL WHERE unique_id = (SELECT min(unique_id) FROM "
            "identity.clusters)": "1 records without a cluster",
            f"UPDATE identity.clusters SET cluster_size = {largest + 1} WHERE unique_id = (SELECT min(unique_id) "
            "FROM identity.clusters)": f"a cluster of {largest + 1} records, at most {largest} allowed",
            "UPDATE identity.model_health SET healthy = false": "an unhealthy model",
        }
        for statement, message in broken.items():
            con.execute("BEGIN")
            con.execute(statement)
            found = identity_clusters_valid(con, "_written", great_expectations, demo_copy)
            con.execute("ROLLBACK")
            assert not found.passed and f"whole table: {message}" in found.description, statement


def test_staged_lines_are_counted_once_per_file_across_tables_and_line_blocks():
    """raw_rows_reconcile counts the distinct staged lines of each file with a bitmap per block of 4,096 lines: the
    same count as a UNION of every staged (source, file, line), across blocks, for a line staged in two tables, a
    line staged twice in one, and a NULL line."""
    lines = {"person_records": [("crm", "a.csv", n) for n in (1, 2, 4095, 4096, 4097, 9000, None)],
             "activities": [("crm", "a.csv", n) for n in (2, 2, 4096, 12288, None)] +
                           [("shop", "b.csv", n) for n in range(1, 9000, 7)],
             "erasure_requests": [("crm", "c.csv", 5), ("shop", "b.csv", 8)]}
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA staging")
        for table, rows in lines.items():
            con.execute(f"CREATE TABLE staging.{table} (source VARCHAR, _file VARCHAR, _line BIGINT)")
            con.executemany(f"INSERT INTO staging.{table} VALUES (?, ?, ?)", rows)
        counted = {(s, f): n for s, f, n in con.execute(
            f"SELECT source, file, sum(lines) FROM ({STAGED_LINES_SQL}) GROUP BY ALL").fetchall()}
    distinct = {row for rows in lines.values() for row in rows}
    expected = {key: sum(1 for s, f, _ in distinct if (s, f) == key) for key in {(s, f) for s, f, _ in distinct}}
    assert counted == expected


def test_a_new_process_validates_with_the_stored_checkpoints_while_their_expectations_are_the_codes(tmp_path,
                                                                                                      monkeypatch):
    """Every `customer360 run` is a new process: it validates with the data source, suite and checkpoint an earlier
    process stored (none written again) while the stored expectations are the code's, and registers the suite again
    when the code's differ (here a lower size limit, which the stored suite would not fail)."""
    from pipeline.quality import gx_runner, suites

    frame = pd.DataFrame({"cluster_key": ["a", "b"], "cluster_size": [2, 9], "match_probability": [0.9, 1.0]})
    assert gx_runner.GXRunner(tmp_path).run("identity_clusters", frame, suites.identity_clusters(10)).success
    gx_dir = tmp_path / "gx"
    stored = [gx_dir / "great_expectations.yml",
              *(gx_dir / folder / "identity_clusters.json" for folder in ("expectations", "checkpoints"))]
    written = [path.stat().st_mtime_ns for path in stored]

    monkeypatch.setattr(gx_runner, "_PROJECTS", {})  # what a new process starts from: the folder alone
    again = gx_runner.GXRunner(tmp_path).run("identity_clusters", frame, suites.identity_clusters(10))
    assert again.success and len(again.expectations) == 3
    assert [path.stat().st_mtime_ns for path in stored] == written

    monkeypatch.setattr(gx_runner, "_PROJECTS", {})
    lower = gx_runner.GXRunner(tmp_path).run("identity_clusters", frame, suites.identity_clusters(5))
    assert [(f["target"], f["unexpected_count"]) for f in lower.failures] == [("cluster_size", 1)]
    assert (gx_dir / "expectations" / "identity_clusters.json").stat().st_mtime_ns != written[1]


def test_a_validated_frame_is_not_fingerprinted(tmp_path):
    """GX hashes every value of a frame to keep a fingerprint nothing reads (~1 CPU s of the staged persons' check
    at 1M rows): the stored result carries no fingerprint, and the suite still fails on a bad row."""
    from pipeline.quality import gx_runner, suites

    frame = pd.DataFrame({"cluster_key": ["a", None], "cluster_size": [2, 9], "match_probability": [0.9, 1.0]})
    result = gx_runner.GXRunner(tmp_path).run("identity_clusters", frame, suites.identity_clusters(10))
    assert [(f["target"], f["unexpected_count"]) for f in result.failures] == [("cluster_key", 1)]
    stored = [p.read_text() for p in (tmp_path / "gx" / "uncommitted" / "validations").rglob("*.json")]
    assert stored and all("ge_load_time" in text and "pandas_data_fingerprint" not in text for text in stored)


def test_a_suite_is_validated_for_its_counts_without_working_out_the_unexpected_rows(tmp_path):
    """A check reports each expectation's counts and percentages: the checkpoint validates in BASIC format, which gives
    them without first listing the unexpected rows' index and query as SUMMARY does (~30 % of a suite's CPU)."""
    import json

    from pipeline.quality import gx_runner, suites

    frame = pd.DataFrame({"consent_action": ["opt_in", "maybe", "opt_out", "maybe"],
                          "consent_channel": ["email"] * 4, "occurred_at": [pd.Timestamp("2026-01-01")] * 4})
    result = gx_runner.GXRunner(tmp_path).run("consent_events", frame, suites.consent_events())
    assert [(f["target"], f["unexpected_count"], f["unexpected_percent"]) for f in result.failures] == \
        [("consent_action", 2, 50.0)]
    stored = json.loads((tmp_path / "gx" / "checkpoints" / "consent_events.json").read_text())
    assert stored["result_format"]["result_format"] == "BASIC"


def test_the_bad_rows_of_yesterday_s_full_export_leave_the_quarantine_share(tmp_path):
    # A full export re-sent daily with its footer row (`Total: 10`, its count changing) and a record without a
    # name: the good rows' older deliveries are superseded, but each day's copies of the bad ones counted as new bad
    # rows, so the share grew day after day until sources_healthy blocked every run.
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {name: cards, channel: offline, format: csv, files: 'cards/*.csv', record_id: id, "
                    "person: {first_name: prenom}}\n", encoding="utf-8")
    days, good, last = 30, 10, "cards/29.csv"
    with duckdb.connect() as con:
        _create_tables(con, fresh=True)
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.cards AS SELECT range AS i FROM range($n)", {"n": days * (good + 2) + 1})
        con.execute("INSERT INTO staging.person_records (source, source_record_id, first_name_raw, _file) "
                    "SELECT 'cards', 'C' || range, 'Jean', $last FROM range($good)", {"good": good, "last": last})
        con.execute("""INSERT INTO staging.quarantine (source, _file, _line, source_record_id, reason)
            SELECT 'cards', 'cards/' || d || '.csv', 2 + r, 'C' || r, 'duplicate record id; the version at x was kept'
            FROM range($days - 1) t(d), range($good) u(r)
            UNION ALL SELECT 'cards', 'cards/' || d || '.csv', 99, 'Total: ' || (d + 10), 'no name, e-mail or phone'
            FROM range($days) t(d)
            UNION ALL SELECT 'cards', 'cards/' || d || '.csv', 98, 'C99', 'no name, e-mail or phone' FROM range($days) t(d)
            UNION ALL SELECT 'cards', $last, 97, NULL, 'unbalanced quote'""", {"days": days, "good": good, "last": last})
        sql = source_quality_sql(load_sources(path), with_customers=False)
        row = con.execute(f"SELECT quarantined_rows, superseded_rows, quarantine_share FROM ({sql})",
                          {"as_of": "2026-11-28"}).fetchall()[0]
    assert row[:2] == ((days - 1) * good + 2 * days + 1, (days - 1) * (good + 2))
    assert row[2] == pytest.approx(3 / (good + 3))  # today's footer, C99 and the unreadable line, over 13 records


def test_a_file_s_footer_row_is_counted_apart_from_the_quarantine_share(tmp_path):
    # A till sending three receipts a day and its `Summe;;;22,70` footer: 1 of 4 rows quarantined read 25 % bad and
    # blocked every run (limit 20 %). The last record of a file quarantined as a footer is counted apart, one a file;
    # the same reason on a record followed by others, and any other reason in last place, stay in the share.
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {name: crm, channel: offline, format: csv, files: 'crm/*.csv', record_id: id, "
                    "person: {first_name: prenom}}\n  - {name: till, channel: offline, format: csv, files: 'till/*.csv', "
                    "record_id: bon, person_ref: {source: crm, column: kunde}, "
                    "activity: {type: store_purchase, occurred_at: datum}}\n", encoding="utf-8")
    with duckdb.connect() as con:
        _create_tables(con, fresh=True)
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.till AS SELECT range AS i FROM range(8)")
        con.execute("CREATE TABLE raw.crm AS SELECT range AS i FROM range(8)")
        con.execute("INSERT INTO staging.activities (source, source_record_id, _file, _line) VALUES "
                    "('till', 'T1', 'till/1.csv', 2), ('till', 'T2', 'till/1.csv', 3), ('till', 'T3', 'till/1.csv', 4), "
                    "('till', 'T4', 'till/2.csv', 2), ('till', 'T5', 'till/2.csv', 4)")
        con.execute("INSERT INTO staging.person_records (source, source_record_id, first_name_raw, _file, _line) "
                    "SELECT 'crm', 'C' || range, 'Jean', 'crm/1.csv', range + 2 FROM range(6)")
        con.execute("INSERT INTO staging.quarantine (source, _file, _line, source_record_id, reason) VALUES "
                    "('till', 'till/1.csv', 5, 'Summe', $footer), ('till', 'till/2.csv', 3, 'Summe', $footer), "
                    "('crm', 'crm/1.csv', 8, 'Anzahl: 6', $nobody), ('crm', 'crm/1.csv', 9, NULL, 'unbalanced quote')",
                    {"footer": NO_DATE_NOR_PERSON, "nobody": NO_PERSON_REASON})
        sql = source_quality_sql(load_sources(path), with_customers=False)
        rows = con.execute(f"SELECT source, quarantined_rows, footer_rows, quarantine_share FROM ({sql}) ORDER BY source",
                           {"as_of": "2026-11-28"}).fetchall()
    assert rows == [("crm", 2, 0, pytest.approx(2 / 8)), ("till", 2, 1, pytest.approx(1 / 7))]


def test_a_purged_customer_s_quarantined_rows_leave_the_quarantine_share(tmp_path):
    # The purge sets every text of an erased or expired customer's rows to NULL, a quarantined row's reason with them:
    # the superseded version of a re-sent erased record then read as bad data (1 of 5 rows: 20 %, at the limit).
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {name: crm, channel: offline, format: csv, files: 'crm/*.csv', record_id: id, "
                    "person: {first_name: prenom}}\n", encoding="utf-8")
    with duckdb.connect() as con:
        _create_tables(con, fresh=True)
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.crm AS SELECT range AS i FROM range(5)")
        con.execute("INSERT INTO staging.person_records (source, source_record_id, first_name_raw, _file, _line) "
                    "SELECT 'crm', 'C' || range, 'Jean', 'crm/2.csv', range + 2 FROM range(4)")
        con.execute("INSERT INTO staging.quarantine (source, _file, _line, source_record_id, reason) "
                    "VALUES ('crm', 'crm/1.csv', 2, 'C3', NULL)")
        sql = source_quality_sql(load_sources(path), with_customers=False)
        row = con.execute(f"SELECT quarantined_rows, purged_rows, quarantine_share FROM ({sql})",
                          {"as_of": "2026-11-28"}).fetchall()[0]
    assert row == (1, 1, 0.0)
