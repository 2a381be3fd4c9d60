"""The identity steps' split between SQL and Python gives what the general algorithms give over every record.

Components that cluster whole are decided in SQL (resolve.WHOLE_SQL) and only the others reach
constrained_clusters; clusters no earlier id votes for get their id in SQL and only the others reach assign_ids.
Here, on a real two-day run of the demo (real DuckDB, Splink, Dagster: households, twins and namesakes the learned
vetoes keep apart, an erased customer), everything forced through the general algorithms gives the same clusters
and the same durable ids.
"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from pipeline.identity import link, resolve
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.ids import assign_ids
from tests.conftest import demo_settings, materialise, park_day
from tests.test_identity_flow import DAY1 as NEXT_DAY  # the day the hand-made family arrives
from tests.test_identity_flow import FAMILY, _write_family

# Every component to constrained_clusters: no component is decided whole in SQL.
NOTHING_WHOLE_SQL = "CREATE OR REPLACE TEMP TABLE _whole AS SELECT root FROM _components WHERE size > ? AND false"


def _clusters(settings, monkeypatch, general: bool) -> tuple:
    """cluster() on a copy of the warehouse as the clusters asset calls it: (frame rows, merges refused)."""
    learned = ConflictModel.load(link.conflicts_path(settings.model_path))
    policy = settings.linkage
    with monkeypatch.context() as patch:
        if general:
            patch.setattr(resolve, "WHOLE_SQL", NOTHING_WHOLE_SQL)
        with duckdb.connect(str(settings.warehouse)) as con:
            con.execute("BEGIN TRANSACTION")  # cluster() records the decisions' status: left as it was
            result = resolve.cluster(con, policy.threshold, policy.max_cluster_size, veto=learned.vetoes,
                                     apart=learned.cluster_veto, unshared=learned.unshared)
            con.execute("ROLLBACK")
    return sorted(result.frame.to_pandas().itertuples(index=False, name=None)), result.refused, result.recomputed


def _identity(settings) -> tuple[dict, dict, set, dict]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        clusters = dict(con.execute("SELECT unique_id, cluster_key FROM identity.clusters").fetchall())
        ids = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall())
        known = [r[0] for r in con.execute(
            "SELECT customer_id FROM identity.id_registry ORDER BY created_at, customer_id").fetchall()]
    return clusters, ids, set(known), {c: rank for rank, c in enumerate(known)}


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    settings = demo_settings(root, 600, seed=23)  # a seed no rule was tuned on
    hold_back(settings.raw_dir, 0.03, DEMO_DAY)
    _write_family(settings.raw_dir)  # parents, twins, namesakes of one household: on the second day
    deliver = park_day(settings, NEXT_DAY)
    materialise(settings)
    day_one = _identity(settings)
    deliver()
    materialise(settings)
    return settings, day_one


def test_components_decided_whole_in_sql_cluster_as_constrained_clustering_does(two_days, monkeypatch):
    settings, _ = two_days
    with duckdb.connect(str(settings.warehouse)) as con:  # the last run's clusters are not reused: every one again
        con.execute("ALTER TABLE identity.clusters RENAME COLUMN component TO component_was")
    try:
        split, refused, recomputed = _clusters(settings, monkeypatch, general=False)
        general, refused_general, recomputed_general = _clusters(settings, monkeypatch, general=True)
    finally:
        with duckdb.connect(str(settings.warehouse)) as con:
            con.execute("ALTER TABLE identity.clusters RENAME COLUMN component_was TO component")
    assert split == general and refused == refused_general
    assert 0 < recomputed < recomputed_general  # some components were decided whole, some needed the algorithm
    cluster_of = {uid: key for uid, key, _ in split}
    family = [cluster_of[f"ecommerce_accounts:AFAM{i}"] for i in range(1, len(FAMILY) + 1)]
    assert len(set(family)) == len(FAMILY)  # parents and twins kept apart
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:  # an erased customer is among them
        assert con.execute("SELECT count(*) FROM golden.excluded_customers WHERE reason = 'erased'").fetchone()[0] > 0
    # With the last run's clusters (kept components), still the same.
    assert _clusters(settings, monkeypatch, general=False)[:2] == _clusters(settings, monkeypatch, general=True)[:2]


def test_ids_issued_in_sql_are_those_assign_ids_gives_and_stay_durable(two_days):
    settings, (clusters_one, ids_one, known_one, age_one) = two_days
    clusters_two, ids_two, _, _ = _identity(settings)
    assert ids_one == assign_ids(clusters_one, {}, set()).record_ids  # day one: every id issued in SQL
    # Day two: the ids assign_ids gives over every cluster, from day one's ids and registry.
    everything = assign_ids(clusters_two, ids_one, known_one, age_one)
    assert ids_two == everything.record_ids
    kept = sum(ids_two.get(uid) == cid for uid, cid in ids_one.items())
    assert kept / len(ids_one) > 0.99 and set(ids_two) > set(ids_one)  # durable, and the new records got theirs


def test_refusals_rivals_and_the_size_guard_come_out_the_same_on_a_hand_made_graph(tmp_path, monkeypatch):
    """Components the veto splits (a chain whose ends differ in birth date), a record two twins outweigh each other
    for, a chain past the size guard, an erased record with no values left, and pairs: split and general agree."""
    from pipeline.identity.evidence import conflict
    from pipeline.warehouse import replace_table
    from tests.test_stewardship import _decisions_table

    records = [("a1", "anne", "1980-01-01"), ("a2", "anne", None), ("a3", "anne", None), ("a4", "anne", "1990-05-05"),
               ("t1", "lucas", "2001-06-15"), ("t2", "louis", "2001-06-15"), ("t3", None, "2001-06-15"),
               ("m1", "marc", None), ("m2", "marc", None), ("m3", "marc", None), ("m4", "marc", None),
               ("e1", None, None), ("e2", "bob", "1970-02-02"), ("p1", "zoe", "1999-09-09"), ("p2", "zoe", None)]
    pairs = [("a1", "a2", 12.0), ("a2", "a3", 11.0), ("a3", "a4", 10.0), ("t1", "t3", 10.0), ("t2", "t3", 9.0),
             ("m1", "m2", 12.0), ("m2", "m3", 11.0), ("m3", "m4", 10.0), ("e1", "e2", 9.5), ("p1", "p2", 15.0)]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA identity")
    con.execute("""CREATE TABLE identity.linkage_input (unique_id VARCHAR, first_name VARCHAR,
        first_name_canonical VARCHAR, last_name VARCHAR, birth_date VARCHAR, record_hash VARCHAR)""")
    con.executemany("INSERT INTO identity.linkage_input VALUES (?, ?, ?, 'durand', ?, ?)",
                    [(u, f, f, b, f"h{u}") for u, f, b in records])
    con.execute("""CREATE TABLE identity.pairwise_predictions (unique_id_l VARCHAR, unique_id_r VARCHAR,
        match_weight DOUBLE, match_probability DOUBLE, contrary_evidence BOOLEAN)""")
    con.executemany("INSERT INTO identity.pairwise_predictions VALUES (?, ?, ?, 1 / (1 + pow(2, -?)), false)",
                    [(a, b, w, w) for a, b, w in pairs])
    _decisions_table(con, [])
    results = []
    for general in (False, True, False, True):  # twice: the second time with the first run's clusters kept
        with monkeypatch.context() as patch:
            if general:
                patch.setattr(resolve, "WHOLE_SQL", NOTHING_WHOLE_SQL)
            result = resolve.cluster(con, 0.8, 3, veto=conflict)
        results.append((sorted(result.frame.to_pandas().itertuples(index=False, name=None)), result.refused,
                        result.outweighed))
        if len(results) == 2:
            replace_table(con, "identity.clusters", result.frame)
    assert results[0] == results[1] and results[2] == results[3]
    keys = {u: k for u, k, _ in results[0][0]}
    assert keys["a1"] == keys["a2"] == keys["a3"] != keys["a4"]  # the veto between the chain's ends
    assert len({keys["t1"], keys["t2"], keys["t3"]}) == 3 and results[0][2] == 2  # twins outweigh each other
    assert len({keys[m] for m in ("m1", "m2", "m3", "m4")}) == 2  # the size guard
    assert keys["e1"] == keys["e2"] and keys["p1"] == keys["p2"]
    assert results[0][1] == 2  # a veto and the size guard refused a merge each


def test_whole_sql_assumption_no_veto_reads_more_than_first_names_and_birth_dates():
    """resolve.WHOLE_SQL skips constrained clustering for components whose records never differ in first name or
    birth date, on the word of every veto that it refuses only such records. A new conflict kind, or a veto that
    reads another field, must fail here before it silently stops applying to those components."""
    from pipeline.identity import conflicts
    from pipeline.identity.evidence import PersonKey, conflict

    assert set(conflicts.KINDS) == {"first_name", "birth_date"}, "a new conflict kind: revisit resolve.WHOLE_SQL"
    first_names, birth_dates = ["jean", "marie", None], ["1980-01-02", "1975-12-31", None]
    others = [(c, last) for c in ("jean", "anne", None) for last in ("martin", "marie", "", None)]
    for first in first_names:
        for born in birth_dates:
            keys = [PersonKey(f, canonical, last, b) for f in (first, None) for b in (born, None)
                    for canonical, last in others]
            assert not any(conflict(x, y) or any(kind(x, y) for kind in conflicts.KINDS.values())
                           for x in keys for y in keys)


def _hand_made(tmp_path, surname: str, records: list[tuple], pairs: list[tuple[str, str, float]],
               extra: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """A warehouse holding only a linkage input (records: unique_id, first name, birth date, then the `extra`
    columns; all of one surname) and its scored pairs (a, b, match weight), none vetoed, and no steward decision."""
    from tests.test_stewardship import _decisions_table

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA identity")
    con.execute(f"""CREATE TABLE identity.linkage_input (unique_id VARCHAR, first_name VARCHAR,
        first_name_canonical VARCHAR, last_name VARCHAR, birth_date VARCHAR, {''.join(f'{c} VARCHAR, ' for c in extra)}
        record_hash VARCHAR)""")
    con.executemany(f"INSERT INTO identity.linkage_input VALUES (?, ?, ?, ?, ?{', ?' * len(extra)}, ?)",
                    [(u, f, f, surname, b, *rest, f"h{u}") for u, f, b, *rest in records])
    con.execute("""CREATE TABLE identity.pairwise_predictions (unique_id_l VARCHAR, unique_id_r VARCHAR,
        match_weight DOUBLE, match_probability DOUBLE, contrary_evidence BOOLEAN)""")
    con.executemany("INSERT INTO identity.pairwise_predictions VALUES (?, ?, ?, 1 / (1 + pow(2, -?)), false)",
                    [(a, b, w, w) for a, b, w in pairs])
    _decisions_table(con, [])
    return con


def _cluster_keys(con, monkeypatch, general: bool, **options) -> dict:
    """unique_id -> cluster key from resolve.cluster at 0.8 (size guard 25) with the default veto; `general`: every
    component through constrained clustering."""
    from pipeline.identity.evidence import conflict

    with monkeypatch.context() as patch:
        if general:
            patch.setattr(resolve, "WHOLE_SQL", NOTHING_WHOLE_SQL)
        result = resolve.cluster(con, 0.8, 25, veto=conflict, **options)
    return {u: k for u, k, _ in result.frame.to_pandas().itertuples(index=False, name=None)}


def test_namesakes_holding_their_own_emails_are_not_chained_through_a_record_with_the_name_alone(tmp_path, monkeypatch):
    """Two Paul Girards, each with two records holding his own e-mail and no birth date, and a ticket holding the name
    alone: the ticket scores a full-name match against both. Without weighing what its pairs could not compare, the
    ticket chains the two men into one customer; with the model's weight of a disagreement on e-mails (unshared
    contacts), it joins the stronger and the other stays apart. One person's two e-mails, compared by a strong pair,
    still join, and so does a single record holding a mobile the other cluster lacks. Split and general agree."""

    records = [("x1", "paul", "ex@a.fr", None), ("x2", "paul", "ex@a.fr", "0611"), ("y1", "paul", "ey@b.fr", None),
               ("y2", "paul", "ey@b.fr", "0622"), ("t", "paul", None, None),
               ("z1", "anne", "ez1@c.fr", None), ("z2", "anne", "ez2@c.fr", None), ("z3", "anne", None, "0633")]
    pairs = [("x1", "x2", 20.0), ("y1", "y2", 20.0), ("t", "x1", 3.0), ("t", "y1", 2.9),
             ("z1", "z2", 15.0), ("z2", "z3", 9.0)]
    con = _hand_made(tmp_path, "girard", [(u, f, None, e, m) for u, f, e, m in records], pairs, ("email", "mobile"))
    unshared = {"email": -4.3, "mobile": -6.6}  # what a fitted model's else levels give (conflicts.disagreement_weights)

    def keys(general: bool, weighed: dict | None) -> dict:
        return _cluster_keys(con, monkeypatch, general, unshared=weighed)

    chained = keys(False, None)
    assert chained["x1"] == chained["y1"] == chained["t"]  # the ticket chains the namesakes
    split, general = keys(False, unshared), keys(True, unshared)
    assert split == general
    assert split["t"] == split["x1"] == split["x2"] != split["y1"] == split["y2"]
    assert split["z1"] == split["z2"] == split["z3"]  # two e-mails of one person, compared by their own pair


def test_the_disagreement_weights_are_the_fitted_models_else_levels():
    from pipeline.identity.conflicts import ConflictModel, disagreement_weights

    fitted = {"comparisons": [
        {"output_column_name": "email", "comparison_levels": [
            {"is_null_level": True}, {"m_probability": 0.95, "u_probability": 2e-7},
            {"m_probability": 0.05, "u_probability": 1.0}]},
        {"output_column_name": "first_name", "comparison_levels": [
            {"is_null_level": True}, {"m_probability": 0.9, "u_probability": 0.01},
            {"m_probability": 0.02, "u_probability": 0.98}]}]}
    weights = disagreement_weights(fitted)
    assert set(weights) == {"email"} and weights["email"] == pytest.approx(-4.3219, abs=1e-4)
    model = ConflictModel(unshared=weights)
    assert ConflictModel.from_dict(model.as_dict()).unshared == weights  # saved with the conflict weights


def test_two_mistypings_of_one_name_beside_it_join_it_as_the_learned_split_reads_them(tmp_path, monkeypatch):
    """'mauuice' and 'murice' each one typo from 'maurice', held by one record each, both linked to a 'maurice'
    record: two edits apart, the veto reads them as two people, so each outweighed the other's link to 'maurice' and
    both stayed apart. Where the first names' split (name_typos.learn) reads a name held by so few records as a typo,
    they join: split and general agree. Where it does not (the threshold below their count), they stay apart."""
    from pipeline.identity.evidence import conflict

    records = [("m1", "maurice"), ("m2", "maurice"), ("m3", "maurice"), ("u1", "mauuice"), ("u2", "murice")]
    pairs = [("m1", "m2", 30.0), ("m1", "m3", 30.0), ("m1", "u1", 25.0), ("m1", "u2", 25.0)]
    con = _hand_made(tmp_path, "crevoisier", [(u, f, None) for u, f in records], pairs)
    assert conflict(*(resolve.person_keys(con)[u] for u in ("u1", "u2")))  # the veto reads two people

    def keys(general: bool, typos: dict | None) -> dict:
        return _cluster_keys(con, monkeypatch, general, typos=typos)

    for typos in (None, {"rarer_held_by_at_most": 0}):
        apart = keys(False, typos)
        assert apart == keys(True, typos) and len({apart[u] for u in ("m1", "u1", "u2")}) == 3
    joined = keys(False, {"rarer_held_by_at_most": 1})
    assert joined == keys(True, {"rarer_held_by_at_most": 1}) and len(set(joined.values())) == 1
