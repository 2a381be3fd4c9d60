"""No personal value in what a run writes beside its tables: a failed step's error (the CLI's stderr, the run history,
a launched run's compute log) quotes none (`assets/errors.py`), and a run Dagster executes itself (UI, schedule,
sensor, `dagster asset materialize`) leaves the warehouse and its folders owner-only, as `customer360 run` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from assets.cli import main
from pipeline.private_text import scrub
from tests.conftest import materialise_until
from tests.hostile import CRM_HEADER, crm_rows, day, project, write

STEWARD_EMAIL = "zz.leak.steward@example.org"


def test_a_step_failing_on_a_steward_s_broken_file_names_the_file_and_line_but_not_the_value(tmp_path, capsys, cli_env,
                                                                                             monkeypatch):
    # A steward's override file with a quote left open: PyYAML's error copies the broken line, e-mail and all. It
    # reached the CLI's stderr and the run history (the UI's error view, a launched run's compute log).
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    settings = project(tmp_path)
    write(settings.raw_dir, "crm", day(-1), "export.csv", "\n".join([CRM_HEADER, *crm_rows()]).encode("latin-1"))
    settings.decisions_dir.mkdir(parents=True)
    (settings.decisions_dir / "fix.yaml").write_text(
        "decisions:\n  - decision: override\n    customer_id: C1\n    attribute: email\n"
        f'    value: "{STEWARD_EMAIL}\n    reason: asked by phone\n', encoding="utf-8")
    run = ["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
           "--sources", str(settings.sources_file), "--truth", "", "--quiet"]
    assert main(run) == 1
    err = capsys.readouterr().err
    assert "fix.yaml: while scanning a quoted scalar" in err and "line 5, column 12" in err  # what to fix, where
    assert err.strip().splitlines()[-1].startswith("run FAILED at: identity_input")
    written = {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert any(p.suffix == ".db" for p in written)  # the run history is there to read
    assert STEWARD_EMAIL not in err and [p for p, data in written.items() if STEWARD_EMAIL.encode() in data] == []


@pytest.mark.parametrize("statement", [
    "SELECT CAST('zz.leak@example.org' AS INTEGER)",  # a cell read as a number
    "SELECT 'Zyxwvutsrq'::DATE",
    "SELECT CAST(699887766e12 AS INTEGER)",  # a phone's digits read as a quantity: `with value 6.99887766e+20`
    "CREATE TABLE t (k VARCHAR PRIMARY KEY); INSERT INTO t VALUES ('Zyxwvutsrq'), ('Zyxwvutsrq')",
    # unquoted: a phone in an amount column summed as a decimal, a phone's digits read as a year
    "SELECT sum(CAST(x AS DECIMAL(38, 9))) FROM (VALUES (699887766e21)) t(x)",
    "SELECT make_date(699887766, 1, 1)",
    "SELECT strptime('Zyxwvutsrq 0699887766', '%Y')",
])
def test_what_duckdb_quotes_in_an_error_is_left_out_and_the_error_still_says_what_failed(statement):
    with pytest.raises(duckdb.Error) as raised:
        duckdb.connect().execute(statement)
    text = scrub(str(raised.value))
    assert str(raised.value) != text and "Error:" in text
    assert not [v for v in ("zz.leak", "Zyxwvutsrq", "99887766", "6998877") if v in text], text


@pytest.mark.parametrize("parse", [
    lambda: pd.to_datetime("Zyxwvutsrq Durand"),  # `unable to parse: Zyxwvutsrq Durand, at position 0`
    lambda: pd.Timestamp("699887766-01-01"),  # `year 699887766 is out of range: 699887766-01-01`
    lambda: pd.to_datetime(pd.Series([699887766000000000]), unit="s"),  # `Out of bounds nanosecond timestamp: 22178…`
])
def test_what_pandas_gives_unquoted_in_an_error_is_left_out(parse):
    # pandas names the value it could not read after a colon or a word, without quotes: the scrubber missed it.
    with pytest.raises(ValueError) as raised:
        parse()
    text = scrub(str(raised.value))
    assert str(raised.value) != text and not [v for v in ("Zyxwvutsrq", "99887766") if v in text], text


def test_a_phone_or_a_card_number_anywhere_in_a_message_is_left_out_but_dates_lines_and_paths_stay():
    assert scrub("mobile 06 99 88 77 66, +33 6 99 88 77 66, 06.99.88.77.66, card 4970101234567890") == \
        "mobile …, …, …, card …"
    kept = "decisions file /srv/c360/raw/2026-11-27/fix.yaml: line 5, column 12 at 12:03:25 (run 7376926d-2a26)"
    assert scrub(kept) == kept


def test_what_python_quotes_in_an_error_is_left_out():
    with pytest.raises(ValueError) as raised:
        int("O'Brien 06 99 88 77 66")
    assert scrub(str(raised.value)) == "invalid literal for int() with base 10: '…'"
    assert scrub("mailbox zz.leak@example.org unknown; can't send") == "mailbox … unknown; can't send"


def test_every_op_of_the_job_leaves_the_values_of_its_errors_out(defs):
    ops = defs.resolve_job_def("refresh_all").all_node_defs
    assert ops and [op.name for op in ops if not getattr(op.compute_fn.decorated_fn, "values_left_out", False)] == []


def test_a_run_dagster_executes_itself_leaves_the_warehouse_and_its_folders_owner_only(tmp_path):
    # The UI, the schedule, the sensor and `dagster asset materialize` execute the job in a process of their own,
    # with that process's umask (here the test's, 022): only `customer360 run` set an owner-only one, so such a run
    # left the warehouse (every name, e-mail, phone), the model and the quality folder readable by every user.
    from assets.keys import PUBLISHED

    settings = project(tmp_path)
    write(settings.raw_dir, "crm", day(-1), "export.csv", "\n".join([CRM_HEADER, *crm_rows()]).encode("latin-1"))
    previous = os.umask(0o022)
    try:
        materialise_until(settings, PUBLISHED)
        assert os.umask(0o022) == 0o022  # the run gave the process its umask back
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in settings.warehouse.parent.iterdir()}
    assert modes.pop(settings.published.name) == 0o644  # the analysts' copy, as the README says
    assert modes[settings.warehouse.name] == 0o600 and {"artefacts", "quality"} <= set(modes), modes
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}


def test_every_file_a_cli_run_writes_is_owner_only_but_the_analysts_copy(tmp_path):
    # `customer360 run` in a process of its own, umask 022, in a DAGSTER_HOME its operator created (0755): Data Docs
    # rendered at the process's exit (after the run gave the process its umask back) and the run history the instance
    # created before the run (runs.db, index.db, schedules.db, dagster.yaml) were readable by every user.
    settings = project(tmp_path)
    write(settings.raw_dir, "crm", day(-1), "export.csv", "\n".join([CRM_HEADER, *crm_rows()]).encode("latin-1"))
    home = tmp_path / "dagster_home"
    home.mkdir(mode=0o755)
    env = {**os.environ, "DAGSTER_HOME": str(home), "C360_FIRST_DAY": day(-10)}
    run = [str(Path(sys.executable).parent / "customer360"), "run", "--raw-dir", str(settings.raw_dir),
           "--warehouse", str(settings.warehouse), "--sources", str(settings.sources_file), "--truth", "", "--quiet"]
    done = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *run], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    docs = list((settings.warehouse.parent / "quality").rglob("*.html"))
    assert len({p.parent for p in docs}) > 2 and (home / "history" / "runs.db").is_file()  # pages of every check, a history
    readable = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
                for root in (settings.warehouse.parent, home) for p in [root, *root.rglob("*")]
                if p.stat().st_mode & 0o077 and p not in (settings.published, home, settings.warehouse.parent)}
    assert readable == {}


def test_a_library_s_warning_printed_by_a_run_leaves_the_value_it_half_read_out():
    # A warning goes to the process's stderr (the CLI's, a launched run's compute log), past the steps' error
    # scrubbing: pandas quotes the whole cell it read a "timezone" from (here a name).
    code = ("import assets.errors, pandas as pd, warnings; warnings.simplefilter('always'); "
            "pd.to_datetime('2024-01-01 10:00 ZYXWV'); "
            "warnings.warn('mailbox zz.leak@example.org unknown')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0 and "FutureWarning" in done.stderr and "UserWarning" in done.stderr, done.stderr
    assert "ZYXWV" not in done.stderr and "zz.leak" not in done.stderr, done.stderr


def test_what_an_in_memory_database_spills_stays_in_an_owner_only_folder_not_the_current_directory(tmp_path):
    # Staging's scratch database (also audience's, explain's, the conflict model's) spilled big sorts and joins to `.tmp`
    # in the directory the command was started from, with the shell's umask (0644 under 022), person values in plain
    # text, and left there when the process was killed.
    code = ("import os; from pipeline.warehouse import scratch\n"
            "with scratch() as con:\n"
            "    con.execute(\"SET memory_limit = '50MB'; SET threads = 1\")\n"
            "    con.execute(\"CREATE TEMP TABLE t AS SELECT 'zz.leak' || i || '@example.org' AS e, random() AS r "
            "FROM range(3000000) t(i)\")\n"
            "    con.execute('SELECT * FROM t ORDER BY r').fetchmany(1)\n"
            "    d = con.execute(\"SELECT current_setting('temp_directory')\").fetchone()[0]\n"
            "    print(d, oct(os.stat(d).st_mode & 0o777), len(os.listdir(d)))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-c", code], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    folder, mode, spilled = done.stdout.split()
    assert int(spilled) > 0 and mode == "0o700", done.stdout  # it did spill, where no other user reads
    assert list(tmp_path.iterdir()) == [] and not Path(folder).exists()  # nothing in the current directory, nor left
