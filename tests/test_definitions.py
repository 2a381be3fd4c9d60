"""The code location loads: every layer's assets, described and grouped, checks on their assets."""

import subprocess
import sys

import dagster as dg

from assets.definitions import build_definitions
from pipeline.config import load_sources


def test_definitions_load_with_every_layer(small_project):
    defs = build_definitions(small_project)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    names = {s.name for s in load_sources(small_project.sources_file)}
    assert {f"raw/{n}" for n in names} <= keys
    assert {"staging/person_records", "staging/quarantine", "identity/pairwise_predictions",
            "identity/clusters", "marts/customer_xref", "identity/linkage_quality"} <= keys
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"sources", "staging", "identity", "marts"} <= groups
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, f"{key.to_user_string()} has no description"
    checks = {c.name for c in graph.asset_check_keys}
    assert {"raw_rows_reconcile", "every_person_record_once"} <= checks


def test_bundled_definitions_module_loads():
    from assets import definitions

    assert isinstance(definitions.defs, dg.Definitions)


def test_loading_the_definitions_leaves_great_expectations_to_the_checks_that_validate():
    # The code server, the daemon's schedule and sensor load the definitions and validate nothing: Great Expectations
    # (3-5 CPU s of imports) is loaded by a check when it builds its suite.
    code = ("import sys; from assets.definitions import defs; defs.resolve_asset_graph(); "
            "print(sorted(m for m in ('great_expectations', 'scipy', 'altair') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
