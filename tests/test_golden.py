"""Golden record and marts: survivorship with lineage, consent, RFM, erasure, retention, reconciliation."""


from datetime import date

import duckdb
import pandas as pd
import pytest

from pipeline.golden.activity import activity_summary_sql
from pipeline.golden.changes import scope
from pipeline.golden.consent import CONSENT_STATE_SQL
from pipeline.golden.contact_points import CONTACT_POINTS_SQL
from pipeline.golden.survivorship import golden_attributes_sql, load_rules
from pipeline.identity import placeholders
from pipeline.marts.segmentation import segmentation_sql
from pipeline.staging import CONTACT_TYPES
from tests.conftest import copy_demo, materialise


def _record(rid, source, rank, updated, **values):
    base = dict(customer_id="C1", source=source, source_record_id=rid, trust_rank=rank,
                record_updated_at=pd.Timestamp(updated), record_delivered_at=pd.NaT, first_name=None, last_name=None, last_name_norm=None,
                birth_date=None, email=None, email_valid=False, phone=None, phone_valid=False, phone_kind=None,
                street=None, street_norm=None, postcode=None, postcode_valid=False, city=None, state=None, country=None,
                civility=None)
    return {**base, **values}


def test_survivorship_picks_the_documented_value_with_its_lineage():
    con = duckdb.connect()
    con.register("golden_candidates", pd.DataFrame([
        _record("A1", "ecommerce_accounts", 1, "2021-01-01", first_name="Marie", last_name="Durand",
                last_name_norm="durand", email="m.durand@x.fr", email_valid=True,
                street="1 rue A", street_norm="1 rue a", postcode="75001", postcode_valid=True, city="Paris"),
        _record("L1", "loyalty_cards", 2, "2024-06-01", first_name="Marie", last_name="Lefèvre",
                last_name_norm="lefevre", email="not-an-email", email_valid=False, phone="+33611111111",
                phone_valid=True, phone_kind="mobile",
                street="9 av. B", street_norm="9 avenue b", postcode="69001", postcode_valid=True, city="Lyon"),
        _record("T1", "cs_tickets", 3, "2022-03-01", first_name="Maria", phone="+33478000000", phone_valid=True,
                phone_kind="landline"),
    ]))
    row = con.execute(golden_attributes_sql(load_rules())).df().iloc[0]
    assert (row.first_name, row.first_name_source) == ("Marie", "ecommerce_accounts")  # most frequent, then trust
    assert (row.last_name, row.last_name_source_record_id) == ("Lefèvre", "L1")  # most recent: the married name
    assert row.last_name_updated_at == pd.Timestamp("2024-06-01")
    assert (row.email, row.email_source) == ("m.durand@x.fr", "ecommerce_accounts")  # the only valid one
    assert (row.mobile, row.landline) == ("+33611111111", "+33478000000")
    assert (row.street, row.postcode, row.city, row.address_source_record_id) == ("9 av. B", "69001", "Lyon", "L1")


def _consent_state(events):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA golden")
    con.register("_e", pd.DataFrame(events, columns=["customer_id", "channel", "action", "occurred_at", "source",
                                                     "source_record_id", "collection_point"]))
    con.execute("CREATE TABLE golden.consent_events AS SELECT * FROM _e")
    scope(con, full=True)  # every customer's state
    return {(c, ch): s for c, ch, s, *_ in con.execute(CONSENT_STATE_SQL).fetchall()}


def test_a_later_opt_out_wins_whatever_the_source_and_a_tie_goes_to_opt_out():
    t = pd.Timestamp
    state = _consent_state([
        ("C1", "email", "opt_in", t("2024-01-01"), "ecommerce_accounts", "A1", "checkout"),
        ("C1", "email", "opt_out", t("2024-05-01"), "consent_events", "E1", "preference_center"),
        ("C2", "sms", "opt_out", t("2023-01-01"), "consent_events", "E2", "store_tablet"),
        ("C2", "sms", "opt_in", t("2025-01-01"), "consent_events", "E3", "app_onboarding"),
        ("C3", "email", "opt_in", t("2024-01-01"), "consent_events", "E4", "checkout"),
        ("C3", "email", "opt_out", t("2024-01-01"), "cs_tickets", "T1", "phone"),
    ])
    assert state == {("C1", "email"): "opt_out", ("C2", "sms"): "opt_in", ("C3", "email"): "opt_out"}


def test_rfm_scores_segments_and_edges():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA golden")
    rows = []
    for i in range(10):  # 10 purchasers: customer 9 bought most, most often, most recently
        rows.append((f"C{i}", pd.Timestamp("2020-01-01"), pd.Timestamp(2026, 11, 20) - pd.Timedelta(days=300 - 30 * i),
                     i + 1, 0, 100.0 * (i + 1), 0.0, 100.0 * (i + 1), 0, 0, 1 if i % 3 else 0, 50.0 * i))
    rows.append(("C_prospect", None, None, 0, 0, 0.0, 0.0, 0.0, 3, 0, 0, None))
    con.register("_a", pd.DataFrame(rows, columns=["customer_id", "first_purchase_at", "last_purchase_at",
                                                   "orders_online", "orders_offline", "revenue_online",
                                                   "revenue_offline", "revenue_12m", "sessions_90d", "reviews_12m",
                                                   "loyalty_cards", "loyalty_points"]))
    con.execute("CREATE TABLE golden.customer_activity AS SELECT * FROM _a")
    con.execute("CREATE TABLE golden.consent_state (customer_id VARCHAR, channel VARCHAR, state VARCHAR)")
    con.execute("INSERT INTO golden.consent_state VALUES ('C9', 'email', 'opt_in')")
    con.execute("CREATE TABLE golden.excluded_customers (customer_id VARCHAR, reason VARCHAR)")
    seg = con.execute(segmentation_sql(), {"as_of": date(2026, 11, 24)}).df().set_index("customer_id")
    scored = seg.drop("C_prospect")
    assert scored[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    assert tuple(seg.loc["C9", ["r_score", "f_score", "m_score"]]) == (5, 5, 5)
    assert tuple(seg.loc["C0", ["r_score", "f_score", "m_score"]]) == (1, 1, 1)
    assert seg.loc["C9", "rfm_segment"] == "champions" and seg.loc["C0", "rfm_segment"] == "hibernating"
    assert seg.loc["C_prospect", "rfm_segment"] == "prospect" and pd.isna(seg.loc["C_prospect", "r_score"])
    # The tier is the programme status: card holders by points (C9 spends most but holds no card).
    assert seg["loyalty_tier"].to_dict() == {"C0": "none", "C1": "standard", "C2": "standard", "C3": "none",
                                             "C4": "silver", "C5": "silver", "C6": "none", "C7": "gold",
                                             "C8": "gold", "C9": "none", "C_prospect": "none"}
    assert seg.loc["C9", "engagement_score"] == 40 + 15  # e-mail opt-in + a purchase within 90 days
    assert bool(seg.loc["C0", "churn_risk"]) and not bool(seg.loc["C9", "churn_risk"])


@pytest.fixture(scope="module")
def published(demo_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    return copy_demo(demo_run, root), root


def _erased_records(settings) -> dict[tuple[str, str], str]:
    """(source, record id) -> customer_id, for every record of an erased customer (their values are purged:
    the record keys are what is left to follow them)."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return {(s, r): c for s, r, c in con.execute("""
            SELECT x.source, x.source_record_id, x.customer_id FROM marts.customer_xref x
            JOIN golden.excluded_customers e USING (customer_id) WHERE e.reason = 'erased'""").fetchall()}


def _in_marts(settings, customers) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        ids = list(customers)
        return sum(con.execute(f"SELECT count(*) FROM {t} WHERE list_has_any(?, {col})", [ids]).fetchall()[0][0]
                   for t, col in [("marts.customer_360", "[customer_id]"), ("marts.consent_history", "[customer_id]"),
                                  ("marts.household", "member_ids")])


def test_an_erased_person_stays_erased_across_runs(published):
    settings, root = published
    erased = _erased_records(settings)
    assert erased and _in_marts(settings, set(erased.values())) == 0
    for f in (root / "raw" / "erasure_requests").rglob("*.csv"):  # the request file is gone from the next drop,
        f.unlink()                                                   # the person's records are still in the sources
    materialise(settings)
    erased_now = _erased_records(settings)
    assert set(erased) <= set(erased_now) and _in_marts(settings, set(erased_now.values())) == 0


def test_retention_and_segment_totals_reconcile_with_the_360(published):
    settings, _ = published
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        # last seen = the latest activity or record update (an edited account counts as activity)
        stale = con.execute("""
            SELECT count(*) FROM (
                SELECT c.customer_id, greatest(max(p.record_updated_at), any_value(c.last_activity_at)) AS seen
                FROM marts.customer_360 c JOIN marts.customer_xref x USING (customer_id)
                JOIN staging.person_records p USING (source, source_record_id) GROUP BY 1)
            WHERE seen < DATE '2026-11-24' - INTERVAL 1095 DAY""").fetchall()[0][0]
        assert stale == 0
        xref, published_n, excluded = con.execute("""
            SELECT (SELECT count(DISTINCT customer_id) FROM marts.customer_xref),
                   (SELECT count(*) FROM marts.customer_360),
                   (SELECT count(*) FROM golden.excluded_customers)""").fetchall()[0]
        assert published_n == xref - excluded and excluded > 0
        totals = con.execute("""
            SELECT (SELECT sum(customers) FROM marts.segment_summary), (SELECT count(*) FROM marts.customer_360),
                   (SELECT round(sum(revenue), 2) FROM marts.segment_summary),
                   (SELECT round(sum(coalesce(monetary, 0)), 2) FROM marts.customer_360),
                   (SELECT sum(members) FROM marts.household)""").fetchall()[0]
        assert totals[0] == totals[1] == totals[4] and totals[2] == totals[3]
        never = con.execute("""SELECT count(*) FROM marts.customer_360
                               WHERE (contactable_email AND consent_email <> 'opt_in')
                                  OR (contactable_sms AND NOT mobile_valid)""").fetchall()[0][0]
        assert never == 0


def test_no_personal_value_reaches_dagster_events(demo_run):
    """Metadata, logs and check descriptions carry counts and names of things, never a customer's values."""
    import json

    values = set()
    for line in next((demo_run.root / "raw" / "ecommerce_accounts").rglob("*.jsonl")).read_text().splitlines()[1:]:
        record = json.loads(line)
        values |= {record["email"], record["last_name"], record["address"]["street"], record["phone"]} - {None}
    leaked = [v for v in values if len(v) > 5 and v in demo_run.events]
    assert len(values) > 300 and leaked == []


def test_the_demo_exercises_every_tier_consent_channel_and_civility(published):
    settings, _ = published
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        tiers = dict(con.execute("SELECT loyalty_tier, count(*) FROM marts.customer_360 GROUP BY 1").fetchall())
        assert set(tiers) == {"none", "standard", "silver", "gold", "platinum"}
        # the tier is the programme status: no card, no tier, whatever the spend
        assert con.execute("SELECT count(*) FROM marts.customer_360 WHERE (coalesce(loyalty_cards, 0) = 0) "
                           "<> (loyalty_tier = 'none')").fetchall() == [(0,)]
        for channel in ("email", "sms", "phone", "post"):
            assert con.execute(f"SELECT count(DISTINCT contactable_{channel}) FROM marts.customer_360").fetchall() \
                == [(2,)], channel
        assert {r[0] for r in con.execute("SELECT DISTINCT civility FROM marts.customer_360").fetchall()} \
            == {"M.", "Mme", None}


def _contact_points(records) -> list[tuple]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA golden")
    con.execute("CREATE TABLE golden.point_consent_state (customer_id VARCHAR, contact_point_key VARCHAR, "
                "channel VARCHAR, state VARCHAR, state_since TIMESTAMP, needs_repermission BOOLEAN)")
    con.register("golden_candidates", pd.DataFrame(records))
    con.execute("CREATE SCHEMA staging")  # the records' further e-mails and phones: none here
    con.execute(f"CREATE TABLE staging.person_contacts ({', '.join(f'{c} {t}' for c, t in CONTACT_TYPES.items())})")
    con.execute("CREATE SCHEMA identity")  # no placeholder e-mail or phone (identity/placeholders.py)
    con.execute(placeholders.CREATE_SQL)
    scope(con, full=True)
    return con.execute(f"SELECT contact_point, variants FROM ({CONTACT_POINTS_SQL})").fetchall()


def test_a_contact_point_spelled_two_ways_at_the_same_instant_reads_the_same_whatever_the_row_order():
    # Two records of one customer give one mailbox two spellings with the same date: which one was shown depended
    # on the order DuckDB read the rows in, so two runs over the same data could publish different values.
    records = [_record("A1", "ecommerce_accounts", 1, "2024-01-01", email="Marie.Durand@x.fr", email_key="marie.durand@x.fr",
                       email_valid=True),
               _record("L1", "loyalty_cards", 2, "2024-01-01", email="marie.durand@x.fr", email_key="marie.durand@x.fr",
                       email_valid=True)]
    assert _contact_points(records) == _contact_points(records[::-1]) == [
        ("marie.durand@x.fr", ["Marie.Durand@x.fr", "marie.durand@x.fr"])]


def test_revenue_does_not_depend_on_the_order_purchases_are_added_in():
    # Summed as doubles, 0.1 + 0.2 + 0.3 is 0.6000000000000001 in one order and 0.6 in the other: a customer's
    # published revenue moved in its last digits with the order DuckDB's threads added the purchases in.
    amounts = [("C1", 0.1), ("C1", 0.2), ("C1", 0.3), ("C2", 0.3), ("C2", 0.2), ("C2", 0.1)]
    frame = pd.DataFrame({"customer_id": [c for c, _ in amounts], "amount": [a for _, a in amounts],
                          "source_record_id": [f"O{i}" for i in range(len(amounts))], "activity_type": "order",
                          "status": "paid", "channel": "online", "occurred_at": pd.Timestamp("2026-11-01"),
                          "category": None, "rating": None, "store_id": None, "currency": None})
    with duckdb.connect() as con:
        con.register("customer_activities_stitched", frame)
        scope(con, full=True)
        totals = con.execute(f"SELECT customer_id, revenue_online, revenue_12m FROM ({activity_summary_sql()}) "
                             "ORDER BY customer_id", {"as_of": "2026-11-28", "currency": "EUR"}).fetchall()
    assert totals == [("C1", 0.6, 0.6), ("C2", 0.6, 0.6)]
