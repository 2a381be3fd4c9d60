"""Household-resolved attachment: a fragment that carries only a first name and a household's contact point joins
the one member of that household with that first name.

A consent event with a first name and the family e-mail, or a ticket with a first name and a mobile only the
spouse's records hold, shares nothing with the rest of its person but a first name: no pairwise score can link it
(the contact point matches the whole household, the first name alone matches namesakes everywhere). Within the
household the contact point names, the first name does decide: when exactly one member has it, that member is the
person. How often it decides right is learned on each run from its own confident clusters (`household_evidence`):
records already linked that hold a contact point another customer of their household holds are treated as such
fragments, and the share of them the first name sends back to their own cluster is the probability of the
attachment. Attachments are made only when that probability reaches the clustering threshold, and never when two
members share the first name (twins, namesakes), when the fragment has no household, or when a steward kept one of
its records apart. Pure SQL over the clustered records, before ids are assigned.

Households are the connected groups of clusters sharing an e-mail, a mobile, a landline, or street + postcode +
surname (households.py: golden/households.py draws them with the same routine over customers, later). A fragment is
a cluster with one formal first name, at most one surname and no birth date; a surname it carries must be on the member's records too.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.identity.households import household_keys_sql, household_labels
from pipeline.sql import scalar
from pipeline.warehouse import registered

# _hh_records: the clustered linkage records; _hh_clusters: one row per cluster (i numbers them for the components, in
# no set order: a household is named by one of its numbers and only compared for equality, and sorting every cluster's
# key cost ~0.1 CPU s at a million records).
# (the linkage input holds only the fields the sources map: an unmapped one reads as NULL)
FIELDS = {"first_name": "first_name_canonical", "last_name": "last_name", "birth_date": "birth_date",
          "email": "email", "mobile": "mobile", "landline": "landline", "street": "street", "postcode": "postcode"}
RECORDS_SQL = """
    CREATE OR REPLACE TEMP TABLE _hh_records AS
    SELECT f.unique_id, f.cluster_key, {fields}
    FROM _hh_frame f JOIN identity.linkage_input l USING (unique_id)"""
CLUSTERS_SQL = """
    CREATE OR REPLACE TEMP TABLE _hh_clusters AS
    SELECT cluster_key, (row_number() OVER () - 1)::BIGINT AS i, count(*) AS size,
           -- one first name and at most one surname (min = max: no count of distinct values over every cluster)
           count(birth_date) = 0 AND coalesce(min(first_name) = max(first_name), false)
               AND coalesce(min(last_name) = max(last_name), true) AS fragment,
           any_value(first_name) AS first_name, any_value(last_name) AS last_name
    FROM _hh_records GROUP BY cluster_key"""
# The contact points that tie a fragment to its household (a mobile too: a fragment may hold only a spouse's).
CONTACT_KINDS = ("email", "mobile", "landline")
# A contact value held by two clusters or more: what ties a fragment to its household. (One row per record and kind
# already: a record is one row of _hh_records.)
CONTACTS_SQL = f"""
    CREATE OR REPLACE TEMP TABLE _hh_contacts AS
    WITH held AS (
        SELECT cluster_key, unique_id, kind, value FROM _hh_records
        UNPIVOT (value FOR kind IN ({", ".join(CONTACT_KINDS)}))),
    shared AS (SELECT kind, value FROM held GROUP BY kind, value HAVING min(cluster_key) < max(cluster_key))
    SELECT * FROM held SEMI JOIN shared USING (kind, value)"""
# Per household, the non-fragment clusters holding each first name (on how many of their records).
NAMES_SQL = """
    CREATE OR REPLACE TEMP TABLE _hh_names AS
    SELECT l.root_i AS household, r.cluster_key, r.first_name, count(*) AS records
    FROM _hh_records r JOIN _hh_clusters c USING (cluster_key) JOIN _hh_labels l USING (i)
    WHERE NOT c.fragment AND r.first_name IS NOT NULL GROUP BY ALL"""
# The evidence: records of linked non-fragment clusters that hold a household contact point and a first name, read
# as fragments (their own record taken out of their cluster's names): does the first name pick their cluster?
EVIDENCE_SQL = """
    WITH probes AS (
        SELECT DISTINCT r.unique_id, r.cluster_key, r.first_name, l.root_i AS household
        FROM _hh_contacts h JOIN _hh_records r USING (unique_id) JOIN _hh_clusters c ON c.cluster_key = r.cluster_key
        JOIN _hh_labels l USING (i)
        WHERE NOT c.fragment AND c.size > 1 AND r.first_name IS NOT NULL),
    picked AS (
        SELECT p.unique_id, count(*) AS members, any_value(n.cluster_key = p.cluster_key) AS own
        FROM probes p JOIN _hh_names n USING (household, first_name)
        WHERE n.records > CASE WHEN n.cluster_key = p.cluster_key THEN 1 ELSE 0 END
        GROUP BY p.unique_id)
    SELECT count(*) FILTER (WHERE members = 1 AND own), count(*) FILTER (WHERE members = 1 AND NOT own),
           count(*) FILTER (WHERE members > 1)
    FROM picked"""
# Fragments holding a household contact point, and the household's members with the fragment's first name.
CANDIDATES_SQL = """
    CREATE OR REPLACE TEMP TABLE _hh_candidates AS
    WITH fragments AS (
        SELECT DISTINCT c.cluster_key, c.first_name, c.last_name, c.size, l.root_i AS household
        FROM _hh_clusters c JOIN _hh_labels l USING (i) JOIN _hh_contacts h USING (cluster_key)
        WHERE c.fragment)
    SELECT f.cluster_key AS fragment, any_value(n.cluster_key) AS target, count(*) AS members,
           any_value(f.size) + any_value(t.size) AS size,
           any_value(f.last_name) IS NULL OR bool_or(EXISTS (
               SELECT 1 FROM _hh_records r WHERE r.cluster_key = n.cluster_key AND r.last_name = f.last_name))
               AS same_surname
    FROM fragments f JOIN _hh_names n USING (household, first_name) JOIN _hh_clusters t ON t.cluster_key = n.cluster_key
    GROUP BY f.cluster_key"""


class HouseholdEvidence(NamedTuple):
    right: int      # confident records whose first name picks their own cluster in their household
    wrong: int      # ... another member's
    ambiguous: int  # ... two members or more

    @property
    def precision(self) -> float | None:
        decided = self.right + self.wrong
        return self.right / decided if decided else None


class Attachments(NamedTuple):
    frame: pa.Table      # unique_id, cluster_key, ...: the input with attached fragments moved to their member
    evidence: HouseholdEvidence
    attached: int        # fragments attached
    records: int         # records they hold
    ambiguous: int       # fragments whose first name two members of the household share
    unused: bool         # the evidence did not reach the threshold: nothing attached

    def metadata(self) -> dict:
        """Counts only: the evidence and what was done with it."""
        p = self.evidence.precision
        return {"household_evidence_right": self.evidence.right, "household_evidence_wrong": self.evidence.wrong,
                "household_evidence_ambiguous": self.evidence.ambiguous,
                **({"household_evidence_precision": round(p, 4)} if p is not None else {}),
                "household_fragments_attached": self.attached, "household_records_attached": self.records,
                "household_fragments_ambiguous": self.ambiguous}


def build_households(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame | pa.Table) -> None:
    """Temp tables _hh_records, _hh_clusters, _hh_contacts and _hh_labels (i, root_i: each cluster's household)
    for the clusters of `frame` (unique_id, cluster_key)."""
    with registered(con, _hh_frame=frame):
        _build_households(con)


def _build_households(con: duckdb.DuckDBPyConnection) -> None:
    """build_households on the frame registered as _hh_frame."""
    present = {r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()}
    fields = ", ".join(f"l.{column} AS {name}" if column in present else f"NULL::VARCHAR AS {name}"
                       for name, column in FIELDS.items())
    con.execute(RECORDS_SQL.format(fields=fields))
    con.execute(CLUSTERS_SQL)
    con.execute(CONTACTS_SQL)
    n = scalar(con, "SELECT count(*) FROM _hh_clusters")
    # The contact keys from _hh_contacts, the values two clusters hold: a value one cluster holds joins it to nothing,
    # so the households are those of every record's contact points, for a few of the rows grouped (6 % at 1M records).
    keys = household_keys_sql("_hh_records r JOIN _hh_clusters c USING (cluster_key)", "c.i", "r.street", "r.postcode",
                              "r.last_name", {}) + """
        UNION ALL SELECT c.i, h.kind || '|' || h.value FROM _hh_contacts h JOIN _hh_clusters c USING (cluster_key)"""
    with registered(con, _hh_labels_in=household_labels(con, keys, n)):
        con.execute("CREATE OR REPLACE TEMP TABLE _hh_labels AS SELECT * FROM _hh_labels_in")


# The records moved (none unless the evidence is `used`): every record of a fragment whose household has one member of
# its first name (and its surname, if it has one), within the size guard, neither side holding a record a steward kept
# apart.
MOVES_SQL = """
    CREATE OR REPLACE TEMP TABLE _hh_moves AS
    WITH blocked AS (SELECT cluster_key FROM _hh_frame WHERE list_contains($kept_apart::VARCHAR[], unique_id))
    SELECT r.unique_id, c.fragment, c.target FROM _hh_candidates c JOIN _hh_records r ON r.cluster_key = c.fragment
    WHERE $used AND c.members = 1 AND c.same_surname AND c.size <= $max_size
      AND c.fragment NOT IN (SELECT cluster_key FROM blocked) AND c.target NOT IN (SELECT cluster_key FROM blocked)"""


def attach_household_fragments(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame | pa.Table, threshold: float,
                               max_size: int, kept_apart: set[str] = frozenset()) -> Attachments:
    """`frame` (unique_id, cluster_key, other columns kept) with each fragment that its household resolves moved into
    that member's cluster, when the run's own evidence puts the rule's precision at or above `threshold` (an Arrow
    table, rows in no set order). Records in `kept_apart` (a steward's cannot-link) are never moved nor joined."""
    try:
        with registered(con, _hh_frame=frame):
            _build_households(con)
            con.execute(NAMES_SQL)
            evidence = HouseholdEvidence(*con.execute(EVIDENCE_SQL).fetchone())
            con.execute(CANDIDATES_SQL)
            ambiguous = scalar(con, "SELECT count(*) FROM _hh_candidates WHERE members > 1")
            unused = evidence.precision is None or evidence.precision < threshold
            con.execute(MOVES_SQL, {"used": not unused, "kept_apart": sorted(kept_apart), "max_size": max_size})
            (attached, records), = con.execute("SELECT count(DISTINCT fragment), count(*) FROM _hh_moves").fetchall()
            out = con.sql("""SELECT f.* REPLACE (coalesce(m.target, f.cluster_key) AS cluster_key)
                FROM _hh_frame f LEFT JOIN _hh_moves m USING (unique_id)""").to_arrow_table()
        return Attachments(out, evidence, attached, records, ambiguous, unused)
    finally:
        for t in ("_hh_records", "_hh_clusters", "_hh_contacts", "_hh_labels", "_hh_names", "_hh_candidates",
                  "_hh_moves"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
