"""The real Dagster webserver on 127.0.0.1, opened in headless Chromium: every layer's group and assets are
shown in the asset lineage. The screenshot is kept in data/artefacts/ui/."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import demo_settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
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


def _chromium(profile: Path, *args: str) -> str:
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                         timeout=120, check=False)
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_asset_lineage_shows_every_layer(tmp_path):
    settings = demo_settings(tmp_path, 30, seed=1)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("nux:\n  enabled: false\ntelemetry:\n  enabled: false\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DAGSTER_HOME": str(home), "C360_RAW_DIR": str(settings.raw_dir),
           "C360_WAREHOUSE": str(settings.warehouse)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p",
                               str(port), "-w", "workspace.yaml"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the webserver did not come up in 120 s")
        shots = ROOT / "data" / "artefacts" / "ui"
        shots.mkdir(parents=True, exist_ok=True)
        _chromium(tmp_path / "p0", "--window-size=1600,1000", f"--screenshot={shots / 'asset_lineage.png'}",
                  f"{base}/asset-groups")
        assert (shots / "asset_lineage.png").stat().st_size > 10_000
        lineage = _chromium(tmp_path / "p1", "--dump-dom", f"{base}/asset-groups")
        assert all(f">{group}<" in lineage for group in LAYERS), "a layer group is missing from the lineage"
        for group, assets in LAYERS.items():
            page = _chromium(tmp_path / f"p_{group}", "--window-size=1600,4000", "--dump-dom",
                             f"{base}/locations/__repository__@pipeline.definitions/asset-groups/{group}")
            assert any(a in page for a in assets), f"no asset of the {group} layer is drawn"
    finally:
        server.terminate()
        server.wait(timeout=30)
