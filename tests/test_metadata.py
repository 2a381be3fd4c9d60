"""Dagster metadata built from the warehouse's catalogue: column lineage of the 360 table, owners per layer."""

import duckdb

from assets.marts import DERIVED_360, SOURCES_360
from assets.metadata import column_lineage


def test_the_360_columns_trace_back_to_the_golden_columns_they_come_from():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA golden; CREATE SCHEMA marts")
    con.execute("CREATE TABLE golden.customer_profile (customer_id VARCHAR, email VARCHAR, postcode VARCHAR, "
                "country VARCHAR, email_source VARCHAR)")
    con.execute("CREATE TABLE golden.contact_points (customer_id VARCHAR, valid BOOLEAN, consent_email VARCHAR)")
    con.execute("CREATE TABLE golden.customer_activity (customer_id VARCHAR, orders_online INTEGER)")
    con.execute("CREATE TABLE marts.customer_360 (customer_id VARCHAR, email VARCHAR, email_source VARCHAR, "
                "contactable_email BOOLEAN, region VARCHAR, orders_online INTEGER, made_up VARCHAR)")
    lineage = column_lineage(con, "marts.customer_360", SOURCES_360, DERIVED_360)["dagster/column_lineage"]
    deps = {c: {(d.asset_key.path[1], d.column_name) for d in ds} for c, ds in lineage.deps_by_column.items()}
    assert deps["email"] == {("customer_profile", "email")} and deps["email_source"] == {("customer_profile", "email_source")}
    assert deps["contactable_email"] == {("contact_points", "valid"), ("contact_points", "consent_email"),
                                         ("contact_points", "undeliverable_since")}
    assert deps["region"] == {("customer_profile", "postcode"), ("customer_profile", "country")}
    assert deps["orders_online"] == {("customer_activity", "orders_online")}
    assert "made_up" not in deps  # no invented lineage
    assert deps["customer_id"] == {(t, "customer_id") for t in ("customer_profile", "contact_points", "customer_activity")}


def test_every_asset_has_the_owner_of_its_layer():
    from assets.definitions import OWNERS, defs

    graph = defs.resolve_asset_graph()
    owners = {key: graph.get(key).owners for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert owners and all(o == [OWNERS[k.path[0]]] for k, o in owners.items())


def test_table_metadata_lists_the_columns_describe_lists():
    from assets.metadata import table_metadata

    con = duckdb.connect()
    con.execute("CREATE SCHEMA s; CREATE TABLE s.\"t x\" (a DECIMAL(18,3), b STRUCT(k VARCHAR, v INTEGER[]), "
                "c TIMESTAMP WITH TIME ZONE, \"D\" MAP(VARCHAR, DOUBLE)); INSERT INTO s.\"t x\" (a) VALUES (1), (2)")
    meta = table_metadata(con, "s.t x")
    described = [(c, t) for c, t, *_ in con.execute('DESCRIBE s."t x"').fetchall()]
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == described
    assert meta["dagster/row_count"] == 2 and meta["table"] == "s.t x"
