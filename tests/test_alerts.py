"""A failed run reaches the operator however it was started: `customer360 run` from a scheduler says it, and the
`alert_on_failure` sensor says every other run the daemon sees fail (the nightly schedule's, the new-drop sensor's,
the UI's): a line in alerts.log beside the warehouse (owner-only) and a JSON POST to C360_ALERT_WEBHOOK, with no
personal value and never the webhook's own URL."""

from __future__ import annotations

import dagster as dg
import pytest

from assets import runner
from assets.alerting import CLI_TAG
from assets.cli import main
from assets.definitions import build_definitions
from pipeline.alerts import log_path
from tests.hostile import (
    CRM_HEADER,
    SECRET_EMAIL,
    SECRET_NAME,
    SECRET_PHONE,
    crm_rows,
    day,
    local_webhook,
    project,
    write,
)


@pytest.fixture
def webhook():
    """A local endpoint standing in for Slack or Teams, at a URL carrying a token (never to be printed)."""
    url, texts, server = local_webhook("/hooks/T000/SECRET-TOKEN")
    yield url, texts
    server.shutdown()


def _failing_delivery(root):
    """A CRM export whose rows are mostly broken (a field too many): the blocking `sources_healthy` check stops the
    run at staging. The broken rows hold a person's e-mail, phone and name."""
    settings = project(root)
    broken = [f"C9{i};{SECRET_NAME};Secret;{SECRET_EMAIL};{SECRET_PHONE};75009;extra" for i in range(6)]
    write(settings.raw_dir, "crm", day(-1), "export.csv", "\n".join([CRM_HEADER, *crm_rows(4), *broken, ""]).encode())
    return settings


def _leaks(text: str) -> list[str]:
    return [v for v in (SECRET_EMAIL, SECRET_PHONE, SECRET_NAME, "SECRET-TOKEN") if v in text]


def test_a_failed_command_line_run_posts_its_alert_and_writes_it_beside_the_warehouse(tmp_path, capsys, cli_env,
                                                                                        monkeypatch, webhook):
    url, received = webhook
    settings = _failing_delivery(tmp_path)
    monkeypatch.setenv("C360_ALERT_WEBHOOK", url)
    code = main(["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                 "--sources", str(settings.sources_file), "--truth", "", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    (text,) = received
    assert "FAILED" in text and f"drop day {day(-1)}" in text and "check staging/person_records sources_healthy" in text
    assert "crm" in text and "published copies left as they were" in text
    assert _leaks(text) == [] and _leaks(err) == []
    log = log_path(settings.warehouse)
    assert log.read_text(encoding="utf-8").rstrip().endswith(text) and log.stat().st_mode & 0o777 == 0o600

    # The webhook is down: the run still says its own failure (exit 1), and the log says the post failed.
    monkeypatch.setenv("C360_ALERT_WEBHOOK", "http://127.0.0.1:9/hooks/SECRET-TOKEN")
    assert main(["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                 "--sources", str(settings.sources_file), "--truth", "", "--quiet", "--days", day(-1)]) == 1
    err = capsys.readouterr().err
    assert "the alert webhook did not take it" in err and _leaks(err) == []
    last = log.read_text(encoding="utf-8").splitlines()[-1]
    assert "FAILED" in last and "did not take it" in last and _leaks(last) == []


def test_the_daemon_s_sensor_alerts_a_failed_run_the_command_line_did_not_start(tmp_path, monkeypatch, webhook):
    url, received = webhook
    settings = _failing_delivery(tmp_path)
    monkeypatch.setenv("C360_ALERT_WEBHOOK", url)
    settings = settings.__class__(**{**settings.__dict__, "alert_webhook": url})
    instance = dg.DagsterInstance.ephemeral()
    # A run as the schedule or the UI starts it (no command-line tag), then one the command line started.
    (failed,) = runner.run(settings, instance=instance)
    (by_cli,) = runner.run(settings, instance=instance, days=[day(-1)], tags={CLI_TAG: "true"})
    assert not failed.success and not by_cli.success
    sensor = build_definitions(settings).get_sensor_def("alert_on_failure")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # on as soon as the daemon runs
    for result in (failed, by_cli):  # what the daemon hands the sensor for each failed run
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_failure", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event()).for_run_failure()
        sensor(context)
    (text,) = received  # the command line's run said its own
    assert failed.run_id in text and "sources_healthy" in text and _leaks(text) == []
    assert log_path(settings.warehouse).read_text(encoding="utf-8").count("FAILED") == 1
