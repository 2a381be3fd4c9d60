"""An erasure is never undone by restoring the warehouse from a copy taken before it: the run is refused, from the command
line and from the UI, until the operator says the requests delivered since are back (`--restored`)."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb

from assets import runner
from assets.cli import main
from assets.definitions import build_definitions
from assets.keys import RESTRICTED
from tests.hostile import CRM_HEADER, FORGET_YAML, crm_rows, customer_of, day, person, project, write


def _cli(settings, *options: str) -> int:
    return main(["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                 "--sources", str(settings.sources_file), "--truth", "", "--quiet", *options])


def _holds(path, email: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM marts.customer_360 WHERE email = ?", [email]).fetchone()[0]


def test_a_warehouse_restored_from_before_an_erasure_is_refused_until_the_requests_are_back(tmp_path, capsys):
    settings = project(tmp_path, more_sources=FORGET_YAML, retention_days=36500)
    folder, backup = settings.warehouse.parent, tmp_path / "backup"
    mail = person(2)[2]
    write(settings.raw_dir, "crm", day(-3), "export.csv", ("\n".join([CRM_HEADER, *crm_rows()]) + "\n").encode("latin-1"))
    assert _cli(settings) == 0 and _holds(settings.restricted, mail) == 1
    shutil.copytree(folder, backup)  # the nightly backup, taken before the request
    request = write(settings.raw_dir, "forget", day(-2), "requests.csv",
                    f"request_id,email,requested_at\nR1,{mail},{day(-2)}\n".encode())
    assert _cli(settings) == 0 and _holds(settings.restricted, mail) == 0
    archived = request.read_bytes()
    request.unlink()  # the request's file archived, as drop folders are cleaned
    shutil.rmtree(folder)
    shutil.copytree(backup, folder)  # a disk lost: the backup restored
    capsys.readouterr()

    # Until 2026-11-29 this run republished her: the restored registry had no hash of her, the request was gone.
    assert _cli(settings) == 2
    err = capsys.readouterr().err
    assert "restored from a copy taken before some erasures" in err and "--restored" in err, err
    # An operator re-materialising the restricted copy from the UI (a run Dagster executes, the same instance)
    job = build_definitions(settings).resolve_job_def("refresh_all")
    ui = runner._execute(job, dg.DagsterInstance.get(), runner.run_config(console_level="CRITICAL"), day(-1),
                         [RESTRICTED])
    assert not ui.success
    assert any("restored from a copy" in str(e.message) + str(getattr(e.event_specific_data, "error", ""))
               for e in ui.all_events if e.is_failure)

    write(settings.raw_dir, "forget", day(-2), "requests.csv", archived)  # the requests put back
    assert _cli(settings, "--restored") == 0 and _holds(settings.restricted, mail) == 0
    assert _cli(settings) == 0  # the registry as it now stands is the one later runs compare with
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert customer_of(con, "crm", "C03") is not None  # another person stays

    shutil.rmtree(folder)  # a new warehouse at the same path (its own id) is no restored copy
    assert _cli(settings) == 0
