"""Hostile deliveries through real runs (Dagster, DuckDB, Splink, Great Expectations) on a tiny project: what
the operator sees, that every record is accounted for per source and per file, that blocking checks keep
the published copies as they were, and that no personal value reaches a log line or run metadata."""

from __future__ import annotations

import hashlib
import shutil

import dagster as dg
import duckdb

from assets import runner
from assets.cli import main
from assets.publication_guard import customer_360_not_shrunk
from assets.resources import build_resources
from assets.staging import RECONCILES
from pipeline.identity.scoring import NOTHING_TO_LINK
from tests.conftest import checks
from tests.hostile import (
    CRM_HEADER,
    SECRET_EMAIL,
    SECRET_NAME,
    SECRET_PHONE,
    balanced,
    crm_rows,
    day,
    first_delivery,
    project,
    shop_lines,
    write,
)

SECRETS = (SECRET_EMAIL, SECRET_NAME, SECRET_PHONE)


def _run(settings, **options):
    results = runner.run(settings, console_level="CRITICAL", **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results


def _events_text(results) -> str:
    """Every log message and metadata value of the runs, as text."""
    parts = []
    for result in results:
        for event in result.all_events:
            parts.append(str(event.message))
            data = event.event_specific_data
            for attr in ("materialization", "asset_check_evaluation_data"):
                inner = getattr(data, attr, None)
                if inner is not None:
                    parts.append(repr(inner))
            if hasattr(data, "metadata"):
                parts.append(repr(data.metadata))
    return "\n".join(parts)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_hostile_first_delivery_is_contained_published_and_leaks_nothing(tmp_path, capsys, cli_env,
                                                                            monkeypatch):
    first_delivery(tmp_path)
    settings = project(tmp_path)
    refused: list[str] = []
    results = _run(settings, report=refused.append)
    # Refused with a reason, the rest of the delivery read: a symlink out, an impossible and a future day.
    assert len(refused) == 3 and all(SECRET_EMAIL not in line for line in refused)
    assert any("not a real day" in r for r in refused) and any("in the future" in r for r in refused)
    assert any("outside the raw directory" in r for r in refused)
    files = balanced(settings)
    export = f"crm/{day(-2)}/export.csv"
    assert files[export] == (18, 18, 15, 3)  # one stray quote, one 200 KB field, one empty person: 3 of 18
    assert files[f"crm/{day(-2)}/no_header.csv"] == (2, 2, 0, 2)  # its first line is a record, not a header
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        reasons = {r for (r,) in con.execute("SELECT reason FROM staging.quarantine").fetchall()}
        assert {"unbalanced quote (a field opened with \" is never closed)", "a field of 200011 characters "
                "(limit 131072)", "no name, e-mail or phone to identify the person"} <= reasons
        assert con.execute("SELECT first_name FROM staging.person_records WHERE source_record_id = 'C09'"
                           ).fetchall() == [("Hélène",)]  # the UTF-8 row in the latin-1 file, repaired
        assert con.execute("SELECT first_name, field FROM staging.person_records JOIN staging.field_issues "
                           "USING (source, source_record_id) WHERE source_record_id = 'C52'").fetchall() == \
            [(None, "first_name")]  # "007" flagged, never a name
        assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'S12'"
                           ).fetchall() == [("theo.lefevre@example.fr",)]  # the key spelt MAIL
        # Every staged person once in the cross-reference; the CRM has no dates, yet nobody is left out.
        staged, xref, distinct = con.execute("""SELECT (SELECT count(*) FROM staging.person_records),
            (SELECT count(*) FROM marts.customer_xref),
            (SELECT count(DISTINCT (source, source_record_id)) FROM marts.customer_xref)""").fetchall()[0]
        assert staged == xref == distinct == 15 + 6
        assert con.execute("SELECT count(*) FROM golden.excluded_customers").fetchall() == [(0,)]
        customers = con.execute("SELECT count(DISTINCT customer_id) FROM marts.customer_xref").fetchall()[0][0]
        assert con.execute("SELECT count(*) FROM marts.customer_360").fetchall() == [(customers,)]
        columns = " ".join(r[0] for r in con.execute("SELECT column_name FROM information_schema.columns").fetchall())
    text = _events_text(results) + columns
    assert not [s for s in SECRETS if s in text]  # no value of the headerless file: logs, metadata, schema
    # Owner-only: the warehouse and the restricted copy; the pseudonymised analysts' copy is shared.
    assert settings.warehouse.stat().st_mode & 0o777 == 0o600
    assert settings.restricted.stat().st_mode & 0o777 == 0o600
    assert settings.published.stat().st_mode & 0o777 == 0o644
    assert settings.artefacts_dir.stat().st_mode & 0o777 == 0o700
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        linked = con.execute("SELECT customer_id FROM marts.customer_xref GROUP BY ALL HAVING count(*) > 1 "
                             "ORDER BY 1 LIMIT 1").fetchall()[0][0]
    chart = tmp_path / "chart.html"
    assert main(["explain", linked, "--warehouse", str(settings.warehouse), "--out", str(chart)]) == 0
    assert chart.stat().st_mode & 0o777 == 0o600  # names and e-mails: owner-only

    # Blocking guard before publication, called on the real warehouse: an empty or shrunken mart is refused.
    resources = build_resources(settings)
    with duckdb.connect(str(settings.warehouse)) as con:
        # (marts.customer_360 is a view: its rows are stored in marts.customer_360_rows)
        con.execute("CREATE TABLE marts.keep AS SELECT * FROM marts.customer_360_rows")
        con.execute("DELETE FROM marts.customer_360_rows WHERE customer_id IN "
                    "(SELECT customer_id FROM marts.customer_360_rows LIMIT 10)")
    shrunk = customer_360_not_shrunk(duckdb=resources["duckdb"], settings=resources["settings"])
    assert not shrunk.passed and f"from {customers} to {customers - 10}" in shrunk.description
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("DELETE FROM marts.customer_360_rows")
    empty = customer_360_not_shrunk(duckdb=resources["duckdb"], settings=resources["settings"])
    assert not empty.passed and empty.description.startswith("nothing to publish")
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("INSERT INTO marts.customer_360_rows SELECT * FROM marts.keep")
        con.execute("DROP TABLE marts.keep")
        # A row in raw that the file does not hold (a loss or a duplicate between file and raw): the per-file
        # count sees it and publication stops.
        con.execute(f"INSERT INTO raw.crm SELECT * REPLACE (999 AS _line) FROM raw.crm "
                    f"WHERE _file = '{export}' AND _line = 3")

    published, restricted = _sha(settings.published), _sha(settings.restricted)
    run = ["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
           "--sources", str(settings.sources_file), "--truth", ""]
    assert main(run) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith(f"check FAILED staging/person_records {RECONCILES}") and ": unbalanced files" in line for line in err)
    assert "raw_rows_reconcile" in err[-1] and err[-1].endswith("published copies left as they were")
    assert (_sha(settings.published), _sha(settings.restricted)) == (published, restricted)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("DELETE FROM raw.crm WHERE _line = 999")
    # Ten years later nobody is active any more: retention would publish an empty mart; the guard stops it.
    monkeypatch.setenv("C360_AS_OF", "2036-01-01")
    assert main(run) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("check FAILED marts/customer_360 customer_360_not_shrunk") and
               ": nothing to publish" in line for line in err)
    assert "customer_360_not_shrunk" in err[-1] and err[-1].endswith("published copies left as they were")
    assert (_sha(settings.published), _sha(settings.restricted)) == (published, restricted)


def test_snapshots_archives_forgetting_and_renamed_sources(tmp_path, cli_env):
    """Staging level (raw + staging assets and their checks): a daily full export, a deleted file, an
    explicit forget, a renamed source."""
    first_delivery(tmp_path)
    settings = project(tmp_path)
    staging = {"layers": ("raw", "staging")}
    _run(settings, **staging)
    # The CRM sends its whole export again (one e-mail changed); the shop a new file; its first file is archived.
    write(settings.raw_dir, "crm", day(-1), "export.csv", ("id;prenom;nom;email;tel;cp\n" + "\n".join(
        crm_rows(changed=4)) + "\n").encode("latin-1"))
    write(settings.raw_dir, "shop", day(-1), "accounts.jsonl", (shop_lines(range(17, 18))[0] + "\n").encode())
    first_shop = f"shop/{day(-2)}/accounts.jsonl"
    (settings.raw_dir / first_shop).unlink()
    for options in ({}, {"full_refresh": True}):  # superseded versions never block, incremental or full
        results = _run(settings, **staging, **options)
        found = {name: c for r in results for name, c in checks(r).items()}
        assert found["sources_healthy"].passed and found[RECONCILES].passed
        balanced(settings)
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM staging.quarantine WHERE source = 'crm' AND reason LIKE "
                               "'duplicate record id%'").fetchall() == [(14,)]
            # The archived file's rows stay in raw and staging.
            assert con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'shop'").fetchall() == [(7,)]
            assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'C04'"
                               ).fetchall() == [("marc.robert.new@example.fr",)]
    # Forgetting is explicit; a file still in the drop folder cannot be forgotten (the next run would reload it).
    args = ["--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
            "--sources", str(settings.sources_file)]
    assert main(["forget", f"crm/{day(-1)}/export.csv", *args]) == 2
    assert main(["forget", first_shop, *args]) == 0
    # And the shop source is renamed in the sources file: its records leave staging, the new name's come in once.
    settings = project(tmp_path, shop_name="web_shop")
    _run(settings, **staging)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        by_source = dict(con.execute("SELECT source, count(*) FROM staging.person_records GROUP BY ALL").fetchall())
    assert by_source == {"crm": 14 + 1, "web_shop": 1}  # C52 stays: "007" is no name, but Bond is
    balanced(settings)
    shutil.rmtree(settings.raw_dir / "shop")


def test_every_blocking_check_stands_before_both_published_copies_and_bad_folders_start_no_run(small_project):
    """A blocking check stops only what depends on its asset: each one must guard an asset both published
    copies depend on (raw_rows_reconcile once guarded staging/quarantine, on which nothing depends). The
    runs above prove it for raw_rows_reconcile and customer_360_not_shrunk with the copies' bytes."""
    from assets.definitions import build_definitions

    for folder in ("2026-02-30", day(3)):  # and the new-drop sensor asks for neither, nor fails on them
        (small_project.raw_dir / "newsletter" / folder).mkdir()
    defs = build_definitions(small_project)
    requests = defs.resolve_sensor_def("new_source_drop")(dg.build_sensor_context())
    assert sorted({r.partition_key for r in requests}) == ["2026-11-20"]
    graph = defs.resolve_asset_graph()
    copies = [dg.AssetKey(["published", "marts"]), dg.AssetKey(["restricted", "marts"])]
    blocking = [k for k in graph.asset_check_keys if graph.get_check_spec(k).blocking]
    assert {k.name for k in blocking} >= {"raw_rows_reconcile", "staging_persons_valid", "sources_healthy",
                                          "consent_values_allowed", "identity_clusters_valid",
                                          "every_person_record_once", "customer_360_valid", "customer_360_not_shrunk"}
    for check in blocking:
        downstream = graph.get(check.asset_key).child_keys
        seen, todo = set(), list(downstream)
        while todo:
            key = todo.pop()
            if key not in seen:
                seen.add(key)
                todo.extend(graph.get(key).child_keys)
        assert set(copies) <= seen, f"{check.name} on {check.asset_key.to_user_string()} guards no published copy"


def test_a_first_delivery_without_any_person_record_fails_with_the_reason(tmp_path):
    # A first export that is header-only (or every file refused) stopped the run inside Splink's u sampling with a
    # ZeroDivisionError; it now fails at the scoring step saying why, and nothing is published.
    settings = project(tmp_path)
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\r\n").encode("latin-1"))
    results = runner.run(settings, console_level="CRITICAL")
    failures = [e for r in results for e in r.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["identity__pairwise_predictions"]
    assert NOTHING_TO_LINK in failures[0].step_failure_data.error.message
    assert not (settings.warehouse.parent / "published.duckdb").exists()


def test_a_first_run_before_any_delivery_fails_with_the_reason(tmp_path):
    # A new user's first `customer360 run` before the first drop (the source folders empty or absent) stopped staging
    # with a catalog error naming no table: no extract ran, so no raw table existed. The empty extract makes them.
    settings = project(tmp_path)
    (settings.raw_dir / "crm").mkdir(parents=True, exist_ok=True)
    results = runner.run(settings, console_level="CRITICAL")
    failures = [e for r in results for e in r.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["identity__pairwise_predictions"]
    assert NOTHING_TO_LINK in failures[0].step_failure_data.error.message
