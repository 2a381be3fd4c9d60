"""The incremental day's scoring: the changed records scored against the records a blocking rule pairs them with,
the term frequencies computed from the columns they read, give what scoring them against the whole base gives."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
from splink.backends.duckdb import DuckDBAPI

from pipeline.identity import link, recipe
from tests.conftest import copy_demo


def _against_the_whole_base(con, changed: list[str], settings, artefacts) -> pa.Table:
    """The scoring before the scratch held only the blocked records: the whole base copied into Splink's scratch,
    its term frequencies from recipe.term_frequency_tables, the unchanged records a view of it."""
    records = con.sql("SELECT * FROM identity.linkage_input").to_arrow_table()
    scratch, path = link._scratch(artefacts, linkage_input=records, _changed=pa.table({"unique_id": changed}))
    try:
        scratch.execute("CREATE TABLE changed_records AS SELECT * FROM linkage_input SEMI JOIN _changed USING (unique_id)")
        scratch.execute("CREATE VIEW other_records AS SELECT * FROM linkage_input ANTI JOIN _changed USING (unique_id)")
        tf_tables, _, _ = recipe.term_frequency_tables(link.DuckDBEngine(scratch), records)
        db = DuckDBAPI(scratch)
        return link.score_changed_records(scratch, db, recipe.open_linker(db, "linkage_input", settings, tf_tables))
    finally:
        link._drop_scratch(scratch, path)


def test_changed_records_score_as_against_the_whole_base(demo_run, tmp_path):
    settings = copy_demo(demo_run, tmp_path / "demo")
    with duckdb.connect(str(settings.warehouse)) as con:
        # every 20th record as changed: new names, contacts and addresses against many blocks
        changed = [r[0] for r in con.execute("SELECT unique_id FROM identity.linkage_input "
                                             "QUALIFY row_number() OVER (ORDER BY unique_id) % 20 = 0").fetchall()]
        scored = link.predict_changed(con, changed, settings.model_path, settings.artefacts_dir)
        whole = _against_the_whole_base(con, changed, json.loads(settings.model_path.read_text()),
                                        settings.artefacts_dir)
        rules = link._prediction_rules(json.loads(settings.model_path.read_text()))
        con.execute("CREATE TEMP TABLE changed_records AS SELECT * FROM identity.linkage_input "
                    "WHERE unique_id IN (SELECT unnest(?::VARCHAR[]))", [changed])
        others = link.blocked_with_sql(rules, "identity.linkage_input", "changed_records")
        blocked = con.execute(f"SELECT count(*) FROM ({others})").fetchall()[0][0]
        total = con.execute("SELECT count(*) FROM identity.linkage_input").fetchall()[0][0]
    assert whole.num_rows > len(changed)  # pairs between changed records and the others, and among them
    assert 0 < blocked < total - len(changed)  # the scratch held fewer records than the whole base
    assert scored.schema == whole.schema
    with duckdb.connect() as mem:
        mem.register("a", scored)
        mem.register("b", whole)
        differing = mem.execute("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b "
                                "UNION ALL (SELECT * FROM b EXCEPT ALL SELECT * FROM a))").fetchall()[0][0]
    assert differing == 0
