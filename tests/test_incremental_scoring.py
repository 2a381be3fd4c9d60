"""The incremental day's scoring: the changed records scored against the records a blocking rule pairs them with,
the term frequencies computed from the columns they read, in one predict_between, give what Splink's two calls for
an incremental link (predict_between against the whole base, predict_within among the changed records) give."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
from splink.backends.duckdb import DuckDBAPI

from pipeline.identity import conflicts, link, recipe
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
        linker = recipe.open_linker(db, "linkage_input", settings, tf_tables)
        changed_df, other_df = db.register("changed_records"), db.register("other_records")
        threshold = conflicts.predict_weight(conflicts.ConflictModel.load(link.conflicts_path(artefacts / "splink_model.json")))
        between = linker.inference.predict_between(other_df, changed_df, warning_mode="never",
                                                   threshold_match_weight=threshold)
        within = linker.inference.predict_within(changed_df, warning_mode="never", threshold_match_weight=threshold)
        scratch.execute(f"CREATE TABLE scored AS SELECT * FROM {between.physical_name} "
                        f"UNION ALL BY NAME SELECT * FROM {within.physical_name}")
        return scratch.sql(link.l_before_r(scratch, "scored")).to_arrow_table()
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
    among = set(changed)
    assert any(a in among and b in among for a, b in zip(whole["unique_id_l"].to_pylist(),
                                                         whole["unique_id_r"].to_pylist(), strict=True))
    assert 0 < blocked < total - len(changed)  # the scratch held fewer records than the whole base
    assert scored.schema == whole.schema
    with duckdb.connect() as mem:
        mem.register("a", scored)
        mem.register("b", whole)
        differing = mem.execute("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b "
                                "UNION ALL (SELECT * FROM b EXCEPT ALL SELECT * FROM a))").fetchall()[0][0]
    assert differing == 0
