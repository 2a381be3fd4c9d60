"""The data dictionary: an analyst reads what each table and column of the copies holds in the copy itself, and an
operator beside each column of the marts in the Dagster UI (pipeline/dictionary.yaml, one text for both)."""

from __future__ import annotations

import duckdb

from pipeline.dictionary import column_description, table_description


def _comments(path) -> tuple[dict, dict]:
    """(schema.table -> comment, schema.table.column -> comment) of every table and view of a copy, read the way an
    analyst's SQL client reads them."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = dict(con.execute("""SELECT schema_name || '.' || table_name, comment FROM duckdb_tables()
            WHERE NOT internal UNION ALL SELECT schema_name || '.' || view_name, comment FROM duckdb_views()
            WHERE NOT internal""").fetchall())
        columns = dict(con.execute("""SELECT schema_name || '.' || table_name || '.' || column_name, comment
            FROM duckdb_columns() WHERE NOT internal""").fetchall())
    return tables, columns


def test_every_table_and_column_of_both_copies_says_what_it_holds(demo_run):
    for path in (demo_run.settings.published, demo_run.settings.restricted):
        tables, columns = _comments(path)
        assert {t for t, comment in tables.items() if not comment} == set(), path.name
        assert {c for c, comment in columns.items() if not comment} == set(), path.name
        assert tables["marts.customer_360"] == table_description("customer_360")
    _, published = _comments(demo_run.settings.published)
    # a pattern's word in its text, and the analysts' derived columns described as what they are
    assert published["marts.customer_360.contactable_sms"].startswith("Reachable by sms:")
    assert published["marts.customer_360.email_pseudonym"].startswith("Keyed pseudonym (HMAC-SHA256")
    assert "NULL here" in published["marts.customer_360_rows.recency_days"] != published["marts.customer_360.recency_days"]


def test_the_operator_reads_the_same_description_beside_each_column_of_a_mart(demo_run):
    schemas = {tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata["dagster/column_schema"]
               for e in demo_run.result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
               and "dagster/column_schema" in e.step_materialization_data.materialization.metadata}
    described = {c.name: c.description for c in schemas[("marts", "customer_360")].value.columns}
    assert described["churn_risk"] == column_description("customer_360", "churn_risk") is not None
    assert all(described.values()), [c for c, d in described.items() if not d]
    # the warehouse's own tables are not the analysts': no description is made up for them
    staged = {c.name: c.description for c in schemas[("staging", "person_records")].value.columns}
    assert set(staged.values()) == {None}
