"""An incremental day clusters only the region around what changed, and gets what clustering every record gets.

A real two-day demo (real DuckDB, Splink, Dagster; day one's retention purge scrubs records the second day's
clustering must look at again): day two is scored incrementally, then clustering runs on two copies of that
warehouse, once from the last run's state (reclustering.py: the region only) and once without it (every record).
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import duckdb
import pyarrow as pa

from assets.keys import PREDICTIONS
from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from pipeline.golden.purge import restore_purged_hashes
from pipeline.identity import id_scope, link, reclustering
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.features import identifier_names, linkage_input_sql
from pipeline.identity.resolve import cluster
from pipeline.warehouse import registered
from tests.conftest import demo_settings, materialise, materialise_until, park_day

NEXT_DAY = (DEMO_DAY + timedelta(days=1)).isoformat()


def _cluster(warehouse, settings, with_state: bool) -> tuple:
    learned = ConflictModel.load(link.conflicts_path(settings.model_path))
    policy = settings.linkage
    state = reclustering.signature(policy.threshold, policy.max_cluster_size, policy.review_cluster_size,
                                   link.conflicts_path(settings.model_path))
    with duckdb.connect(str(warehouse)) as con:
        result = cluster(con, policy.threshold, policy.max_cluster_size, veto=learned.vetoes,
                         apart=learned.cluster_veto, settings=state if with_state else None, unshared=learned.unshared)
        outweighed = sorted(con.execute("SELECT * FROM identity.outweighed_pairs").fetchall())
        records = con.execute("SELECT count(*) FROM identity.linkage_input").fetchone()[0]
    frame = sorted(result.frame.to_pandas().itertuples(index=False, name=None))
    return (frame, result.refused, result.recomputed, result.outweighed, result.households, outweighed), \
        result.reclustered, records


def test_a_day_reclusters_its_region_only_and_gets_what_clustering_every_record_gets(tmp_path):
    settings = demo_settings(tmp_path, 600, seed=31)
    hold_back(settings.raw_dir, 0.03, DEMO_DAY)
    deliver = park_day(settings, NEXT_DAY)
    materialise(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        purged = con.execute("SELECT count(*) FROM identity.purged_records").fetchone()[0]
    assert purged > 0  # day one's purge scrubbed records after they were clustered
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        day_one = con.execute("SELECT * FROM identity.linkage_input").fetchall()
    deliver()
    materialise_until(settings, PREDICTIONS)  # day two's extracts, staging and scoring: what runs before clustering
    # identity_input wrote only the rows that changed: the table holds what building it whole from the staged records
    # holds, purged records with their restored hashes, in the order the full re-link reads it (scoring.py)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(f"CREATE TEMP TABLE whole AS {linkage_input_sql(identifier_names(con))}")
        assert restore_purged_hashes(con, "whole") > 0
        whole = con.execute("SELECT * FROM whole ORDER BY unique_id").fetchall()
        assert con.execute("SELECT * FROM identity.linkage_input ORDER BY unique_id").fetchall() == whole
    assert 0 < len(set(whole) - set(day_one)) < len(whole) and set(day_one) - set(whole)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute(f"SELECT count(*) FROM {reclustering.JOURNAL}").fetchone()[0] > 0
    copies = {}
    for mode in ("region", "every"):
        copies[mode] = tmp_path / f"{mode}.duckdb"
        shutil.copy(settings.warehouse, copies[mode])
    region, reclustered, records = _cluster(copies["region"], settings, with_state=True)
    every, not_seeded, _ = _cluster(copies["every"], settings, with_state=False)
    assert region == every
    assert not_seeded is None and 0 < reclustered < records


def test_the_journal_names_exactly_the_records_whose_cluster_key_changed(tmp_path):
    # write_clusters journals from its diff of the rows, not from every cluster row: a record keeping its key
    # whose cluster grew (its row differs, its key does not) stays out; a moved, a new and a gone record go in
    def write(con, rows):
        with registered(con, _clusters=pa.table({"unique_id": [u for u, _ in rows], "cluster_key": [k for _, k in rows]})):
            reclustering.write_clusters(con, 10)

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA identity")
        write(con, [("a", "k1"), ("b", "k1"), ("c", "k2"), ("d", "k3"), ("e", "k4")])
        id_scope.spent(con)  # ids assigned: the journal starts, empty
        before = {r[0]: r[1] for r in con.execute("SELECT unique_id, cluster_key FROM identity.clusters").fetchall()}
        write(con, [("a", "k1"), ("b", "k1"), ("c", "k1"), ("d", "k3"), ("f", "k3")])  # c moved, e gone, f new
        journal = set(con.execute(f"SELECT * FROM {id_scope.JOURNAL}").fetchall())
        assert con.execute("SELECT cluster_size FROM identity.clusters WHERE unique_id = 'd'").fetchone()[0] == 2
    assert journal == {("c", before["c"]), ("e", before["e"]), ("f", None)}
