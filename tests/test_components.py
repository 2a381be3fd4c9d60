"""The one connected-components routine (pipeline/identity/clustering.py) and its users: households, the u
sample's provisional identities, and the candidate graph clustering reads from DuckDB."""

from __future__ import annotations

import hashlib
import random

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.golden.households import build_households
from pipeline.identity import link, recipe
from pipeline.identity.clustering import component_labels, connected_components
from pipeline.identity.components import fingerprint
from pipeline.identity.evidence import conflict
from pipeline.identity.resolve import candidate_components
from pipeline.identity.u_sample import provisional_identities


def _reference(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Components by breadth-first search: each node labelled with its component's smallest node."""
    neighbours: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    label = [-1] * n
    for start in range(n):
        if label[start] < 0:
            todo, seen = [start], {start}
            while todo:
                x = todo.pop()
                for y in neighbours[x]:
                    if y not in seen:
                        seen.add(y)
                        todo.append(y)
            for x in seen:
                label[x] = min(seen)
    return label


def test_component_labels_match_a_breadth_first_search_on_random_graphs():
    rng = random.Random(5)
    for n, m in ((1, 0), (2, 1), (50, 10), (200, 150), (300, 900), (1000, 400)):
        edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(m)]
        edges += [(i, i + 1) for i in range(0, min(n - 1, 60))]  # one long chain: the worst case for hooking
        left = np.array([a for a, _ in edges], dtype=np.int64)
        right = np.array([b for _, b in edges], dtype=np.int64)
        assert component_labels(n, left, right).tolist() == _reference(n, edges)


def test_connected_components_names_each_component_by_its_first_id():
    groups = connected_components(["a", "b", "c", "d", "e"], [("e", "d"), ("b", "c"), ("d", "b")])
    assert groups == {"a": "a", "b": "b", "c": "b", "d": "b", "e": "b"}
    assert connected_components(["x"], []) == {"x": "x"}


def test_households_join_shared_address_landline_and_mailbox_transitively(tmp_path):
    profile = pd.DataFrame({  # noqa: F841 - read by DuckDB by its name below
        "customer_id": ["C1", "C2", "C3", "C4", "C5", "C6"],
        "street_norm": ["1 rue a", "1 rue a", None, "9 rue b", "5 rue c", "5 rue c"],
        "postcode": ["75001", "75001", None, "69001", "13001", "13001"],
        "last_name_norm": ["durand", "durand", "martin", "petit", "roux", "roux"],
        "landline": [None, "+33142000000", "+33142000000", None, None, None],
        "email": [None, None, "famille@x.fr", "famille@x.fr", None, None],
    }, dtype=object)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA golden")
        con.execute("CREATE TABLE golden.customer_profile AS SELECT * FROM profile")
        con.execute("CREATE TABLE golden.excluded_customers AS SELECT 'C6' AS customer_id")  # erased: in no household
        build_households(con)
        out = dict(con.execute("SELECT customer_id, household_id FROM golden.households").fetchall())
    assert len({out[c] for c in ("C1", "C2", "C3", "C4")}) == 1 and out["C5"] != out["C1"] and "C6" not in out
    assert out["C1"] == "H" + hashlib.sha256(b"C1").hexdigest()[:15].upper()  # named by its earliest customer


def test_provisional_identities_group_by_shared_values_and_are_named_by_a_record():
    rows = [("r1", "a@x.fr", None, "ann", "lee", "1990-01-01", None), ("r2", "a@x.fr", "+336", None, None, None, None),
            ("r3", None, "+336", None, None, None, ""), ("r4", None, None, "ann", "lee", "1990-01-01", None),
            ("r5", "b@x.fr", None, "bob", "kay", None, "N7"), ("r6", "", "", "bob", "kay", None, "N7"),
            ("r7", "", "", "bob", "kay", None, ""), ("r8", None, None, None, None, None, "")]
    columns = ("unique_id", "email", "mobile", "first_name", "last_name", "birth_date", "id_national")
    table = pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    groups = provisional_identities(table, ["id_national"]).to_pydict()
    grp = dict(zip(groups["unique_id"], groups["grp"], strict=True))
    assert grp["r1"] == grp["r2"] == grp["r3"] == grp["r4"] == "r1"  # named by the group's first record
    assert grp["r5"] == grp["r6"] == "r5" and len({grp["r1"], grp["r5"], grp["r7"], grp["r8"]}) == 4  # empty: no key


def test_the_incremental_days_term_frequencies_are_the_full_runs(tmp_path):
    """link.term_frequency_frames (the day's, drawn from the records read once, groups numbered) gives the values
    recipe.term_frequency_tables (the full run's, groups named by a record) gives: the same sample of people."""
    rows = [  # a star joined through two keys, a key held by an empty text, ties in completeness, a shared number
        ("r1", "Ann", "Lee", "1990-01-01", "a@x.fr", None, "1 rue A", None), ("r2", "Anne", "Lee", None, "a@x.fr", "+336", None, None),
        ("r3", None, "Lea", None, None, "+336", "2 rue B", None), ("r4", "Ann", "Lee", "1990-01-01", None, None, None, None),
        ("r5", "Bob", "Kay", None, "", "", "3 rue C", 7), ("r6", "Rob", "Kay", None, "", "", "3 rue C", 7),
        ("r7", "Bob", "Kay", None, "", "", None, None), ("r8", None, None, None, None, None, None, None),
        ("r9", "Eve", "Ray", "2001-02-03", "e@y.fr", "+337", "4 rue D", None)]
    columns = ("unique_id", "first_name", "last_name", "birth_date", "email", "mobile", "street", "id_member")
    records = pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.register("_records", records)
        con.execute("CREATE TABLE linkage_input AS SELECT * FROM _records")
        day = link.term_frequency_frames(con, "linkage_input")
        full, people, _ = recipe.term_frequency_tables(link.DuckDBEngine(con), records)
        assert people == 5  # {r1 r2 r3 r4} {r5 r6} r7 r8 r9
        for column, table in full.items():
            expected = con.sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            assert sorted(tuple(r.values()) for r in day[column].to_pylist()) == expected


def test_candidate_components_in_duckdb_fingerprint_components_as_python_does(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA identity")
        con.execute("""CREATE TABLE identity.linkage_input AS SELECT * FROM (VALUES
            ('a', 'h1'), ('b', 'h2'), ('c', NULL), ('d', 'h4'), ('e', 'h5'), ('f', 'h6')) t(unique_id, record_hash)""")
        con.execute("""CREATE TABLE identity.pairwise_predictions AS SELECT * FROM (VALUES
            ('a', 'b', 0.99, 7.5, false), ('b', 'c', 0.95, 4.25, false), ('d', 'e', 0.5, -1.0, false),
            ('a', 'd', 0.99, 9.0, true)) t(unique_id_l, unique_id_r, match_probability, match_weight, contrary_evidence)""")
        candidate_components(con, 0.8, 25, must=[("e", "f")])
        rows = con.execute("SELECT unique_id, root, size, fp FROM _components ORDER BY 1").fetchall()
    roots = {u: r for u, r, _, _ in rows}
    assert roots == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e", "f": "e"}
    hashes = {"a": "h1", "b": "h2", "c": None, "d": "h4", "e": "h5", "f": "h6"}
    fps = {u: fp for u, _, _, fp in rows}
    assert fps["a"] == fingerprint(["a", "b", "c"], [("a", "b", 7.5), ("b", "c", 4.25)], hashes, 25)
    assert fps["e"] == fingerprint(["e", "f"], [], hashes, 25) and fps["d"] is None


def test_candidate_edges_leave_out_a_record_shared_by_two_people(tmp_path):
    """x carries only what two people share (a family e-mail: its pairs with a and b score alike, and a and b
    conflict): given the veto, neither of its pairs is a candidate edge; a's pair with its own copy c stays."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA identity")
        con.execute("""CREATE TABLE identity.linkage_input AS SELECT * FROM (VALUES
            ('a', 'h1', 'anne', 'anne', 'roux', '1980-01-01'), ('b', 'h2', 'paul', 'paul', 'roux', '1978-05-05'),
            ('c', 'h3', 'anne', 'anne', 'roux', '1980-01-01'), ('x', 'h4', NULL, NULL, NULL, NULL))
            t(unique_id, record_hash, first_name, first_name_canonical, last_name, birth_date)""")
        con.execute("""CREATE TABLE identity.pairwise_predictions AS SELECT * FROM (VALUES
            ('a', 'x', 0.999, 20.0, false), ('b', 'x', 0.999, 20.0, false), ('a', 'c', 0.999, 20.0, false),
            ('a', 'b', 0.9, 3.0, true)) t(unique_id_l, unique_id_r, match_probability, match_weight, contrary_evidence)""")
        candidate_components(con, 0.8, 25, must=[], veto=conflict)
        edges = con.execute("SELECT unique_id_l, unique_id_r FROM _candidate_edges").fetchall()
        candidate_components(con, 0.8, 25, must=[])
        without = con.execute("SELECT count(*) FROM _candidate_edges").fetchone()[0]
    assert edges == [("a", "c")] and without == 3
