"""A day of bad deliveries: every fault is contained to its file or source, the run completes and
row counts reconcile from raw to marts."""

from __future__ import annotations

import dagster as dg
import duckdb

from assets.sources import FILES_LOADED
from assets.staging import RECONCILES
from tests.conftest import checks, materialise

DAY = "2026-11-24"


def _drop(settings, source: str, name: str, data: bytes) -> None:
    folder = settings.raw_dir / source / DAY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def test_bad_deliveries_are_contained_and_counts_reconcile(demo_copy):
    settings = demo_copy
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        before = dict(con.execute("SELECT source, count(*) FROM marts.customer_xref GROUP BY ALL").fetchall())
    # Corrupt: bytes that are not JSON at all. Truncated: a CSV cut mid-line. Twice: yesterday's file again.
    _drop(settings, "ecommerce_accounts", "accounts.jsonl", b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n")
    header, *rows = (settings.raw_dir / "loyalty_cards" / "2026-11-23" / "loyalty_cards.csv").read_bytes().splitlines()
    _drop(settings, "loyalty_cards", "loyalty_cards.csv", b"\n".join([header, rows[5], rows[6][: len(rows[6]) // 2]]))
    _drop(settings, "product_reviews", "again.csv",
          (settings.raw_dir / "product_reviews" / "2026-11-23" / "product_reviews.csv").read_bytes())
    # Empty: a header and nothing else. Schema changed: a mapped column renamed, and a new column added.
    _drop(settings, "cs_tickets", "tickets.jsonl", b"")
    orders = (settings.raw_dir / "web_orders" / "2026-11-23" / "web_orders.csv").read_text(encoding="utf-8").splitlines()
    _drop(settings, "web_orders", "orders.csv", "\n".join([orders[0].replace("total_amount", "amount_eur")] + orders[1:3]).encode())
    result = materialise(settings)  # the run completes
    found = checks(result, by_asset=True)
    refused = found[(("raw", "web_orders"), FILES_LOADED)]
    assert not refused.passed and refused.severity == dg.AssetCheckSeverity.ERROR  # a clear error, for that source only
    assert "amount_eur" not in str(refused.description) and "total_amount" in str(refused.description)
    assert refused.metadata["files_refused"].value == 1
    twice = found[(("raw", "product_reviews"), FILES_LOADED)]
    assert not twice.passed and twice.severity == dg.AssetCheckSeverity.WARN  # skipped, said, not an error
    assert twice.metadata["duplicate_files"].value == 1
    assert found[(("raw", "cs_tickets"), FILES_LOADED)].passed  # an empty file, but earlier drops still count
    assert found[(("staging", "person_records"), RECONCILES)].passed
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        reasons = dict(con.execute(f"SELECT source, string_agg(DISTINCT reason, ' | ') FROM staging.quarantine "
                                   f"WHERE _file LIKE '%/{DAY}/%' GROUP BY ALL").fetchall())
        assert "not valid JSON" in reasons["ecommerce_accounts"] or "bytes not valid" in reasons["ecommerce_accounts"]
        assert "fields where the header has" in reasons["loyalty_cards"]
        assert "lacks mapped column(s) ['total_amount']" in reasons["web_orders"]
        assert "product_reviews" not in reasons  # the duplicate file was skipped whole, not quarantined
        # Raw = staged + quarantined for every source, and every staged person record is in the marts once.
        for source, raw_n, staged, quarantined in con.execute("""
                WITH r AS (SELECT 'web_orders' s, count(*) n FROM raw.web_orders
                           UNION ALL SELECT 'loyalty_cards', count(*) FROM raw.loyalty_cards
                           UNION ALL SELECT 'ecommerce_accounts', count(*) FROM raw.ecommerce_accounts)
                SELECT s, n, (SELECT count(*) FROM (SELECT _file, _line FROM staging.person_records WHERE source = s
                                                   UNION SELECT _file, _line FROM staging.activities WHERE source = s)),
                       (SELECT count(*) FROM staging.quarantine WHERE source = s) FROM r""").fetchall():
            assert raw_n == staged + quarantined, source
        assert con.execute("SELECT count(*) FROM staging.person_records").fetchall() == \
               con.execute("SELECT count(*) FROM marts.customer_xref").fetchall()
        after = dict(con.execute("SELECT source, count(*) FROM marts.customer_xref GROUP BY ALL").fetchall())
        # The whole line before the cut was loaded: a card delivered again, whose new version replaces the old.
        assert con.execute(f"SELECT count(*) FROM staging.quarantine WHERE source = 'loyalty_cards' AND reason = "
                           f"'duplicate record id; the version at loyalty_cards/{DAY}/loyalty_cards.csv:2 was kept'"
                           ).fetchall() == [(1,)]
    assert after == before
