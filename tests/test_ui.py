"""The operator's path, as an operator takes it: `customer360 dev` (what `make dev` runs) serves the real webserver
and daemon on 127.0.0.1 with the [spark] extra installed. Headless Chromium draws every layer's lineage; a run
launched through the webserver (what the Materialize button sends), the sensor's run and the schedule's run all
succeed, a run the operator terminates succeeds when re-executed from where it stopped, every check result of
those runs has its Data Docs page (rendered as each run's process exits), and a sensor's run that fails is alerted. The screenshot is kept in data/artefacts/ui/."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.drops import today
from tests.conftest import demo_settings
from tests.hostile import local_webhook

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
LOCATION = "customer360"
LAYERS = {  # group -> assets of which at least one must be drawn on the group's page
    "sources": ["loyalty_cards", "web_orders", "ecommerce_accounts"],
    "staging": ["person_records", "activities", "quarantine", "field_issues"],
    "identity": ["pairwise_predictions", "clusters", "linkage_input", "record_customer"],
    "golden": ["customer_profile", "customer_activity", "households", "consent_state"],
    "marts": ["customer_360", "customer_xref", "household", "segment_summary"],
    "quality": ["data_quality"],
}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000"]
RUNS_BY_TAG = """query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) { ... on Runs { results { runId status } } } }"""
LAST_MATERIALISATION = """query Asset($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset { assetMaterializations(limit: 1) {
    runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }"""
CHECK_EXECUTIONS = """query Executions($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 20) { runId status } }"""
START_SENSOR = """mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on PythonError { message } } }"""
TERMINATE = """mutation Terminate($id: String!) { terminateRun(runId: $id) { __typename } }"""
REEXECUTE = """mutation Reexecute($p: ReexecutionParams!) { launchPipelineReexecution(reexecutionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def _chromium(profile: Path, *args: str) -> str:
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                         timeout=120, check=False)
    return out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dump(profile: Path, url: str) -> str:
    return _chromium(profile, "--window-size=1600,2000", "--dump-dom", url)


def _failures(home: Path) -> list[str]:
    """What made each failed run fail (step failures and run failure messages), for the assertion's message."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        return [f"{run.run_id[:8]} {e.dagster_event.event_type_value}: {e.message[:400]} "
                f"{getattr(e.dagster_event.event_specific_data, 'error', '') or ''}"[:2000]
                for run in failed for e in instance.all_logs(run.run_id)
                if e.dagster_event and e.dagster_event.is_failure]


def _awaited(client, run_id: str) -> str:
    """The run's status once it is done (10 minutes at most)."""
    deadline = time.monotonic() + 600
    while (status := client.get_run_status(run_id).value) not in DONE and time.monotonic() < deadline:
        time.sleep(1)
    return status


def _runs(client, key: str, value: str) -> list[dict]:
    return client._execute(RUNS_BY_TAG, {"key": key, "value": value})["runsOrError"]["results"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_ui_draws_every_layer_and_its_runs_schedule_and_sensor_succeed(tmp_path, history_folder):
    import dagster as dg
    import duckdb
    from dagster_graphql import DagsterGraphQLClient

    settings = demo_settings(tmp_path, 30, seed=1)
    port = _free_port()
    home = history_folder / "dagster_home"  # in RAM where possible (tests/conftest.py)
    hook, alerts, _ = local_webhook()  # where the daemon posts a failed run's alert (C360_ALERT_WEBHOOK)
    env = {**os.environ, "DAGSTER_HOME": str(home), "C360_ALERT_WEBHOOK": hook,
           "C360_REFRESH_CRON": "* * * * *"}  # the schedule fires within a minute instead of at 02:00
    cli = str(Path(sys.executable).parent / "customer360")
    paths = ["--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse), "--truth", ""]
    # A data engineer's run from the command line, before the UI is up: it must show there like the UI's own.
    cli_run = subprocess.run([cli, "run", *paths, "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=900)
    assert cli_run.returncode == 0, cli_run.stderr[-3000:]
    progress = [json.loads(line) for line in cli_run.stdout.splitlines()]  # one JSON object per line, as it goes
    (start,), ends = [e for e in progress if e["event"] == "run_start"], [e for e in progress if e["event"] == "step_end"]
    assert len(ends) == start["steps"] and {e["status"] for e in ends} == {"done"}
    assert next(e for e in ends if e["step"] == "marts__customer_360")["rows"] > 0
    assert progress[-1]["event"] == "run_end" and progress[-1]["success"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        cli_run_id = instance.get_runs(limit=1)[0].run_id
    with duckdb.connect(str(settings.published), read_only=True) as pub:
        published = pub.execute("SELECT count(*) FROM marts.customer_360").fetchone()[0]
    before_ui = set(home.rglob("*"))  # what the CLI run made; the UI's and its runs' files are checked below
    # Started as a script's background job is (`customer360 dev &`: SIGINT ignored), which must still stop on SIGTERM.
    # Under the umask most operators have (022): the UI, the daemon and their runs must still write owner-only.
    server = subprocess.Popen([cli, "dev", "--port", str(port), *paths], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_IGN), os.umask(0o022)))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the webserver did not come up in 180 s")
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)

        # The command-line run is the last materialisation of the 360 table, with its checks (and on the job page).
        last = client._execute(LAST_MATERIALISATION, {"path": ["marts", "customer_360"]})["assetOrError"]
        (materialisation,) = last["assetMaterializations"]
        rows = {e["label"]: e.get("intValue") for e in materialisation["metadataEntries"]}
        assert materialisation["runId"] == cli_run_id and rows["dagster/row_count"] == published > 0
        # The check's executions as the webserver serves them to the checks tab. (A DOM dump of the tab is no
        # proof: it shows the latest execution, and the schedule, firing every minute here, may have started one.)
        executions = client._execute(CHECK_EXECUTIONS, {"path": ["marts", "customer_360"],
                                                         "name": "customer_360_valid"})["assetCheckExecutions"]
        assert {"runId": cli_run_id, "status": "SUCCEEDED"} in executions, executions

        # What the Materialize button sends: a run of the job for the demo's drop day, started by the webserver.
        launched = client.submit_job_execution("refresh_all", repository_location_name=LOCATION,
                                               tags={"dagster/partition": "2026-11-23"})

        # The pages are drawn while those runs go (they wait for one another: one writer). One browser profile for
        # every page, as one operator's browser: the UI's scripts are fetched and compiled once, not per page (the
        # pages are loaded one after another, never two at once on the profile).
        profile = tmp_path / "chromium"
        job_page = _dump(profile, f"{base}/locations/__repository__@{LOCATION}/jobs/refresh_all/runs")
        assert cli_run_id[:8] in job_page, "the command-line run is not on the job page"
        shots = ROOT / "data" / "artefacts" / "ui"
        shots.mkdir(parents=True, exist_ok=True)
        lineage = _chromium(profile, "--window-size=1600,1000", f"--screenshot={shots / 'asset_lineage.png'}",
                            "--dump-dom", f"{base}/asset-groups")  # one page load: the picture and what it drew
        assert (shots / "asset_lineage.png").stat().st_size > 10_000
        assert all(f">{group}<" in lineage for group in LAYERS), "a layer group is missing from the lineage"
        for group, assets in LAYERS.items():
            page = _chromium(profile, "--window-size=1600,4000", "--dump-dom",
                             f"{base}/locations/__repository__@{LOCATION}/asset-groups/{group}")
            assert any(a in page for a in assets), f"no asset of the {group} layer is drawn"

        def await_runs(*origins: str) -> dict[str, list[str]]:
            statuses: dict[str, list[str]] = {}
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # the schedule fires every minute: its first run is the one awaited
                statuses = {
                    "ui": [client.get_run_status(launched).value],
                    "sensor": [r["status"] for r in _runs(client, "dagster/sensor_name", "new_source_drop")],
                    "schedule": [r["status"] for r in _runs(client, "dagster/schedule_name", "daily_refresh")][-1:],
                }
                statuses = {k: v for k, v in statuses.items() if k in origins}
                if all(s and DONE.issuperset(s) for s in statuses.values()):
                    break
                time.sleep(2)
            return statuses

        assert await_runs("ui", "schedule") == {"ui": ["SUCCESS"], "schedule": ["SUCCESS"]}, _failures(home)
        # Today's drop lands once the schedule has run today's partition: the sensor requests a run for it (days
        # already loaded are not replayed, and the schedule, which also loads any earlier day found changed, has used
        # today's run key: before it had, either of the two could have loaded the drop first).
        (settings.raw_dir / "cs_tickets" / today()).mkdir()
        (settings.raw_dir / "cs_tickets" / today() / "t.jsonl").write_text(
            f'{{"ticket_id": "TK1", "opened_at": "{today()}T08:00:00", "status": "open", "category": "question", '
            '"customer": {"first_name": "Anne", "last_name": "Drop", "email": "anne.drop@example.org"}}\n')
        started = client._execute(START_SENSOR, {"selector": {
            "repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": "new_source_drop"}})
        assert started["startSensor"]["__typename"] == "Sensor", started
        assert await_runs("sensor") == {"sensor": ["SUCCESS"]}, _failures(home)
        # An operator stops a run from its page (Terminate), then starts it again where it stopped (Re-execute from
        # failure): the steps left run and the run succeeds, the warehouse released by the stopped one.
        stopped = client.submit_job_execution("refresh_all", repository_location_name=LOCATION,
                                              tags={"dagster/partition": "2026-11-23"})
        while (status := client.get_run_status(stopped).value) in ("QUEUED", "NOT_STARTED", "STARTING"):
            time.sleep(0.2)
        assert status == "STARTED", status
        assert client._execute(TERMINATE, {"id": stopped})["terminateRun"]["__typename"] == "TerminateRunSuccess"
        assert _awaited(client, stopped) == "CANCELED"
        again = client._execute(REEXECUTE, {"p": {"parentRunId": stopped, "strategy": "FROM_FAILURE"}})
        assert again["launchPipelineReexecution"]["__typename"] == "LaunchRunSuccess", again
        assert _awaited(client, again["launchPipelineReexecution"]["run"]["runId"]) == "SUCCESS", _failures(home)
        # Data Docs are rendered when each run's process exits: every check result of the four runs gets its page.
        gx = settings.quality_dir / "gx" / "uncommitted"
        results = {p.relative_to(gx / "validations").with_suffix("") for p in (gx / "validations").rglob("*.json")}
        pages: set[Path] = set()
        for _ in range(60):  # the last run's process may still be writing them
            pages = {p.relative_to(gx / "data_docs" / "local_site" / "validations").with_suffix("")
                     for p in (gx / "data_docs" / "local_site" / "validations").rglob("*.html")}
            if results <= pages:
                break
            time.sleep(1)
        assert len(results) >= 5 and results <= pages, f"{len(results - pages)} check results have no page"
        # A run of broken records launched from the UI (the Materialize button) fails on the blocking
        # `sources_healthy` check, and the daemon's `alert_on_failure` says so to the webhook and in alerts.log
        # (nothing told anyone before). The schedule, firing every minute here, may launch the day again and fail too.
        (settings.raw_dir / "ecommerce_accounts" / today()).mkdir()
        (settings.raw_dir / "ecommerce_accounts" / today() / "empty.jsonl").write_text(
            "".join(f'{{"account_id": "Z{i}"}}\n' for i in range(60)))  # accounts holding no one: quarantined
        failing = client.submit_job_execution("refresh_all", repository_location_name=LOCATION,
                                              tags={"dagster/partition": today()})
        assert _awaited(client, failing) == "FAILURE"
        deadline = time.monotonic() + 120
        while not any(failing in a for a in alerts) and time.monotonic() < deadline:
            time.sleep(1)
        (alert,) = [a for a in alerts if failing in a]
        assert "FAILED" in alert and "sources_healthy" in alert, _failures(home)
        alert_log = settings.warehouse.with_name("alerts.log")
        assert alert in alert_log.read_text(encoding="utf-8") and alert_log.stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(server.pid, 15)  # dagster dev and its webserver, daemon and code server
        server.wait(timeout=60)
    # What the launched runs wrote beside the tables: their compute logs (the run processes' stdout and stderr, which
    # nothing scanned before 2026-11-29) and the run history hold no e-mail or phone of the drops; the warehouse
    # they wrote stays owner-only (assets/resources.py).
    logs = list((home / "storage").rglob("compute_logs/*.err"))
    assert len(logs) >= 3, "no compute log of the launched runs"
    accounts = "".join(p.read_text(encoding="utf-8") for p in (settings.raw_dir / "ecommerce_accounts").rglob("*.jsonl"))
    values = {"anne.drop@example.org"}
    for line in accounts.splitlines():
        with contextlib.suppress(ValueError):  # the demo delivers a broken line or two
            values |= {v for k, v in json.loads(line).items() if k in ("email", "phone") and isinstance(v, str)
                       and len(v) > 5}
    written = [p for p in home.rglob("*") if p.is_file()]
    leaked = {p.name: v for p in written for v in values if v.encode() in p.read_bytes()}
    assert len(values) > 20 and leaked == {}
    assert settings.warehouse.stat().st_mode & 0o777 == 0o600
    # Every file and folder the UI, the daemon and the runs they launched created is owner-only (they were 0644/0755).
    opened = sorted(str(p.relative_to(home)) for p in set(home.rglob("*")) - before_ui if p.stat().st_mode & 0o077)
    assert opened == [], opened[:10]
