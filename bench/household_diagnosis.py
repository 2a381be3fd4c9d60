"""How many of the true pairs a run loses its households could decide, on a built warehouse with a truth file.

    python bench/identity_diagnosis.py --households --warehouse W.duckdb --truth truth.csv

A true pair is lost when its two records sit in two clusters. Lost pairs are counted per pair of clusters of one
person and put in one class: the two clusters share nothing but a first name (no value beyond it on any pair of
their records), or their best pair (not vetoed) scored 0.5-0.8, or >= 0.8 (refused or outweighed), or other
(below 0.5, vetoed, never compared). "household decides" counts the lost pairs where one of the two clusters holds a
contact point (e-mail, mobile, landline) another cluster of its household holds and a single first name, and the
one other cluster of the household with that first name is the other cluster of the pair (household_attach.py's
households, without its fragment restriction); "ambiguous" where two clusters or more hold that first name. The
last line is the precision of that unrestricted decision over every cluster (how often the member it picks is the
same person). Run it on a warehouse built before household attachment to see what it can reach; after, to see what
is left. Counts only: no personal value is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.identity import household_attach as hh
from pipeline.sql import literal

BEYOND_FIRST_NAME = ("last_name", "birth_date", "email", "mobile", "landline", "street", "postcode")


def diagnose(warehouse: Path, truth: Path) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    hh.build_households(con, con.execute("SELECT unique_id, cluster_key FROM identity.clusters").df())
    con.execute(f"""CREATE TEMP TABLE _rp AS SELECT r.*, t.person_id FROM _hh_records r JOIN (
        SELECT source || ':' || source_record_id AS unique_id, person_id FROM read_csv({literal(truth)}, all_varchar = true)
        ) t USING (unique_id)""")
    # every cluster with a shared contact point and one first name: the other clusters of its household holding it
    con.execute("""CREATE TEMP TABLE _decision AS
        WITH names AS (SELECT l.root_i AS household, r.cluster_key, r.first_name
                       FROM _hh_records r JOIN _hh_clusters c USING (cluster_key) JOIN _hh_labels l USING (i)
                       WHERE r.first_name IS NOT NULL GROUP BY ALL),
        k AS (SELECT c.cluster_key, c.first_name, l.root_i AS household FROM _hh_clusters c JOIN _hh_labels l USING (i)
              WHERE c.cluster_key IN (SELECT cluster_key FROM _hh_contacts) AND c.first_name IS NOT NULL
                AND (SELECT count(DISTINCT first_name) FROM _hh_records r WHERE r.cluster_key = c.cluster_key) = 1)
        SELECT k.cluster_key, count(*) AS members, any_value(n.cluster_key) AS target
        FROM k JOIN names n ON n.household = k.household AND n.first_name = k.first_name AND n.cluster_key <> k.cluster_key
        GROUP BY ALL""")
    shared = " OR ".join(f"x.{c} = y.{c}" for c in BEYOND_FIRST_NAME)
    rows = con.execute(f"""
        WITH pc AS (SELECT person_id, cluster_key, count(*) AS n FROM _rp GROUP BY ALL),
        lost AS (SELECT a.person_id, a.cluster_key AS k1, b.cluster_key AS k2, a.n * b.n AS pairs
                 FROM pc a JOIN pc b ON a.person_id = b.person_id AND a.cluster_key < b.cluster_key),
        classed AS (
            SELECT p.pairs,
                EXISTS (SELECT 1 FROM _rp x JOIN _rp y ON x.person_id = y.person_id
                        WHERE x.cluster_key = p.k1 AND y.cluster_key = p.k2 AND ({shared})) AS beyond_first_name,
                (SELECT max(w.match_probability) FROM identity.pairwise_predictions w
                 JOIN _rp x ON x.unique_id = w.unique_id_l JOIN _rp y ON y.unique_id = w.unique_id_r
                 WHERE x.person_id = p.person_id AND y.person_id = p.person_id AND NOT w.contrary_evidence
                   AND list_sort([x.cluster_key, y.cluster_key]) = [p.k1, p.k2]) AS best,
                EXISTS (SELECT 1 FROM _decision d WHERE d.members = 1 AND (d.cluster_key, d.target) IN ((p.k1, p.k2), (p.k2, p.k1)))
                    AS decides,
                EXISTS (SELECT 1 FROM _decision d WHERE d.members > 1 AND d.cluster_key IN (p.k1, p.k2)) AS ambiguous
            FROM lost p)
        SELECT CASE WHEN NOT beyond_first_name THEN 'nothing beyond a first name' WHEN best >= 0.8 THEN '>= 0.8'
                    WHEN best >= 0.5 THEN '0.5-0.8' ELSE 'other' END AS lost_pairs,
               sum(pairs)::BIGINT AS pairs, coalesce(sum(pairs) FILTER (WHERE decides), 0)::BIGINT AS household_decides,
               coalesce(sum(pairs) FILTER (WHERE ambiguous), 0)::BIGINT AS ambiguous
        FROM classed GROUP BY 1 ORDER BY 1""").df().to_dict("records")
    right, wrong = con.execute("""WITH cp AS (SELECT cluster_key, mode(person_id) AS person FROM _rp GROUP BY 1)
        SELECT count(*) FILTER (WHERE a.person = b.person), count(*) FILTER (WHERE a.person <> b.person)
        FROM _decision d JOIN cp a ON a.cluster_key = d.cluster_key JOIN cp b ON b.cluster_key = d.target
        WHERE d.members = 1""").fetchall()[0]
    rows.append({"unrestricted household decision over every cluster": "", "right": right, "wrong": wrong})
    con.close()
    return rows

