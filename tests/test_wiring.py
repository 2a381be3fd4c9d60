"""The wiring of the code location, as a reviewer reads it: every asset key with its group and dependencies, every
check with whether it blocks, the job, schedule and sensor. The snapshot is a checked-in text file, so a change of
wiring shows in the diff of the change that made it. After a deliberate change, regenerate it and commit it:

    .venv/bin/pytest tests/test_wiring.py --update-snapshots
"""

from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe(defs) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        kind = "asset" if node.is_materializable else "external"
        lines.append(f"{kind} {key.to_user_string()} [{node.group_name}]")
        lines += [f"  <- {parent.to_user_string()}" for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string())]
        for check in sorted(node.check_keys, key=lambda c: c.name):
            lines.append(f"  check {check.name}{' (blocking)' if graph.get_check_spec(check).blocking else ''}")
    job = defs.resolve_job_def("refresh_all")
    lines.append(f"job {job.name} partitioned={job.partitions_def is not None}")
    for schedule in defs.schedules or []:
        lines.append(f"schedule {schedule.name} {schedule.cron_schedule} {schedule.execution_timezone} "
                     f"-> {schedule.job_name}")
    for sensor in defs.sensors or []:
        lines.append(f"sensor {sensor.name} -> {', '.join(t.job_name for t in sensor.targets)}")
    return "\n".join(lines) + "\n"


def test_the_asset_graph_matches_its_snapshot(defs, update_snapshots):
    now = describe(defs)
    if update_snapshots or not SNAPSHOT.exists():
        SNAPSHOT.write_text(now, encoding="utf-8")
    assert now == SNAPSHOT.read_text(encoding="utf-8"), (
        "the asset graph changed: review the diff, then run `.venv/bin/pytest tests/test_wiring.py "
        "--update-snapshots` and commit tests/snapshots/asset_graph.txt")
