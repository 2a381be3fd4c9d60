"""The Dagster layer, tested the way Dagster's own guides do it, on top of the end-to-end flows:

- asset and check functions called directly, with real resources, on small hand-built tables;
- one `dg.materialize` per layer on a copy of the materialised demo: each layer, run alone from unchanged
  upstream tables, succeeds with its checks and rebuilds the same table.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.resources import build_resources
from tests.conftest import copy_demo


def _warehouse(tmp_path, *statements: str) -> DuckDBResource:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        for sql in statements:
            con.execute(sql)
    return DuckDBResource(database=str(path))


def test_the_consent_state_asset_builds_its_table_and_describes_it(tmp_path):
    from assets.golden import consent_state

    warehouse = _warehouse(tmp_path, "CREATE SCHEMA golden", """
        CREATE TABLE golden.consent_events AS SELECT * FROM (VALUES
            ('C1', 'email', 'opt_in', TIMESTAMP '2024-01-01', 'ecommerce_accounts', 'A1', 'checkout'),
            ('C1', 'email', 'opt_out', TIMESTAMP '2024-05-01', 'consent_events', 'E1', 'preference_center'),
            ('C2', 'sms', 'opt_in', TIMESTAMP '2025-01-01', 'consent_events', 'E3', 'app_onboarding'))
        t(customer_id, channel, action, occurred_at, source, source_record_id, collection_point)""")
    result = consent_state(duckdb=warehouse)
    assert isinstance(result, dg.MaterializeResult) and result.metadata["dagster/row_count"] == 2
    with warehouse.get_connection() as con:
        assert dict(con.execute("SELECT customer_id, state FROM golden.consent_state").fetchall()) == \
            {"C1": "opt_out", "C2": "opt_in"}


def test_the_cross_reference_check_fails_on_a_record_missing_or_twice(tmp_path):
    from assets.marts import every_person_record_once

    warehouse = _warehouse(tmp_path, "CREATE SCHEMA staging", "CREATE SCHEMA marts",
                           "CREATE TABLE staging.person_records AS SELECT * FROM (VALUES ('s', '1'), ('s', '2')) "
                           "t(source, source_record_id)",
                           "CREATE TABLE marts.customer_xref AS SELECT * FROM (VALUES ('s', '1', 'C1'), "
                           "('s', '2', 'C2')) t(source, source_record_id, customer_id)")
    assert every_person_record_once(duckdb=warehouse).passed
    with warehouse.get_connection() as con:
        con.execute("INSERT INTO marts.customer_xref VALUES ('s', '1', 'C2')")  # one record in two customers
    failed = every_person_record_once(duckdb=warehouse)
    assert not failed.passed and failed.metadata["xref_rows"].value == 3
    with warehouse.get_connection() as con:
        con.execute("DELETE FROM marts.customer_xref WHERE source_record_id = '2'")  # and one in none
    assert not every_person_record_once(duckdb=warehouse).passed


def test_the_publication_guard_blocks_a_mart_that_lost_customers(tmp_path, bundled_settings):
    from assets.publication_guard import customer_360_not_shrunk

    settings = build_resources(bundled_settings)["settings"]
    with duckdb.connect(str(bundled_settings.published)) as published:  # what analysts read now: 10 customers
        published.execute("CREATE SCHEMA marts")
        published.execute("CREATE TABLE marts.customer_360 AS SELECT 'C' || range AS customer_id FROM range(10)")
    mart = ("CREATE OR REPLACE TABLE marts.customer_360 AS SELECT 'C' || range AS customer_id FROM range({n})")
    warehouse = DuckDBResource(database=str(bundled_settings.warehouse))
    with warehouse.get_connection() as con:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA golden")
        con.execute("CREATE TABLE marts.customer_xref AS SELECT 'C' || range AS customer_id FROM range(10)")
        con.execute("CREATE TABLE golden.excluded_customers (customer_id VARCHAR, reason VARCHAR)")
        con.execute(mart.format(n=9))
    assert customer_360_not_shrunk(duckdb=warehouse, settings=settings).passed  # 10 -> 9: within the 20 %
    with warehouse.get_connection() as con:
        con.execute(mart.format(n=7))
    shrunk = customer_360_not_shrunk(duckdb=warehouse, settings=settings)
    assert not shrunk.passed and "from 10 to 7" in shrunk.description
    with warehouse.get_connection() as con:
        con.execute(mart.format(n=0))
    assert customer_360_not_shrunk(duckdb=warehouse, settings=settings).description.startswith("nothing to publish")


# Each layer (first part of the asset keys) with the rows that show it was rebuilt the same. The first run purged
# the values of erased and retention-excluded customers after building their profiles: rebuilt, those are empty.
LAYERS = {"staging": "SELECT * FROM staging.person_records",
          "identity": "SELECT * FROM identity.record_customer",
          "golden": "SELECT * FROM golden.customer_profile "
                    "WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)",
          "marts": "SELECT * FROM marts.customer_360"}


def _rows(path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"{sql} ORDER BY ALL").fetchall()


@pytest.mark.parametrize("layer", list(LAYERS))
def test_each_layer_materialises_alone_from_the_layers_before_it(layer, demo_run, tmp_path):
    from assets.definitions import build_definitions

    settings = copy_demo(demo_run, tmp_path / "demo")
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.key_prefixes(layer)
    keys = selection.resolve(graph)
    result = dg.materialize([*defs.assets, *(defs.asset_checks or [])], selection=selection,
                            resources=defs.resources, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert {e.asset_key for e in result.get_asset_materialization_events()} == keys
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    assert {e.asset_key for e in evaluations} <= keys
    assert _rows(settings.warehouse, LAYERS[layer]) == _rows(demo_run.settings.warehouse, LAYERS[layer])
