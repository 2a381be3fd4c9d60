"""Amounts keep the currency they were delivered in; every published total is in the house currency.

A brand selling in several countries delivers `€100.00`, `CHF 40` and `£10`: each is converted with the operator's
rate of its day (exchange_rates.csv), and one in a currency with no rate is left out of every total, listed with why
and counted, never added as if it were euros (until 2026-11-29 the sign was dropped and all three summed as one)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.config import Settings, SourcesFileError, load_sources
from pipeline.currency import RatesFileError, read_rates
from pipeline.extract import read_source
from pipeline.normalise.values import parse_decimal, parse_money
from pipeline.staging import stage_source
from tests.conftest import materialise

SOURCES = """
defaults:
  country: FR
sources:
  - name: accounts
    channel: online
    format: jsonl
    files: accounts/**/*.jsonl
    record_id: id
    date_formats: ["%Y-%m-%d"]
    person: {first_name: given, last_name: family, email: mail}
  - name: orders
    channel: online
    format: csv
    files: orders/**/*.csv
    record_id: order_id
    date_formats: ["%Y-%m-%d"]
    person_ref: {source: accounts, column: account}
    activity:
      type: order
      occurred_at: day
      amount: {column: total, currency: GBP}   # an amount writing no currency is in pounds
      status: status
"""
PEOPLE = [("A1", "Anne", "Moreau", "anne.moreau@example.fr"), ("A2", "Ben", "Smith", "ben.smith@example.co.uk"),
          ("A3", "Carla", "Rossi", "carla.rossi@example.it")]
ORDERS = [("O1", "A1", "2026-10-01", "€100.00", "paid"),  # EUR, the house currency
          ("O2", "A1", "2026-10-01", "20", "paid"),       # GBP (the column's currency): 20 x 1.15
          ("O3", "A2", "2026-10-02", "CHF 40", "paid"),   # CHF, from an inverted EUR->CHF rate: 40 / 0.8
          ("O4", "A2", "2026-10-03", "$10", "paid"),      # USD: no rate, left out
          ("O5", "A3", "2026-10-04", "£10", "cancelled")]  # no revenue, whatever its currency
RATES = ("date,from_currency,to_currency,rate\n"
         "2026-01-01,GBP,EUR,1.15\n"
         "2026-10-05,GBP,EUR,1.30\n"   # after the orders: not theirs
         "2026-01-01,EUR,CHF,0.8\n"
         "2026-01-01,CHF,USD,1.1\n")   # between two other currencies: not used


def _project(root: Path) -> Settings:
    raw = root / "raw"
    (raw / "accounts" / "2026-10-05").mkdir(parents=True)
    (raw / "accounts" / "2026-10-05" / "a.jsonl").write_text("\n".join(
        json.dumps({"id": i, "given": g, "family": f, "mail": m}) for i, g, f, m in PEOPLE) + "\n", encoding="utf-8")
    (raw / "orders" / "2026-10-05").mkdir(parents=True)
    (raw / "orders" / "2026-10-05" / "o.csv").write_text(
        "order_id,account,day,total,status\n" + "".join(",".join(o) + "\n" for o in ORDERS), encoding="utf-8")
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (root / "exchange_rates.csv").write_text(RATES, encoding="utf-8")
    return Settings(raw_dir=raw, warehouse=root / "warehouse.duckdb", sources_file=root / "sources.yaml",
                    truth_file=None, as_of="2026-11-01", retention_days=36500)


def _revenue(settings: Settings) -> dict[str, float]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return dict(con.execute("""SELECT x.source_record_id, a.revenue_online FROM marts.customer_xref x
            JOIN golden.customer_activity a USING (customer_id) WHERE x.source = 'accounts'""").fetchall())


def _review_spend(settings: Settings) -> dict[str, float]:
    """What ranks the stewards' review queue: each record's spend."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return dict(con.execute("SELECT unique_id, spend FROM identity.review_values").fetchall())


def test_each_amount_is_converted_from_its_own_currency_and_one_without_a_rate_is_left_out(tmp_path):
    settings = _project(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    result = materialise(settings, instance=instance)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert dict(con.execute("SELECT source_record_id, currency FROM staging.activities").fetchall()) == {
            "O1": "EUR", "O2": "GBP", "O3": "CHF", "O4": "USD", "O5": "GBP"}
        assert con.execute("SELECT source_record_id, currency, reason FROM golden.unconverted_amounts").fetchall() \
            == [("O4", "USD", "no USD->EUR rate in the exchange rates file")]
    assert _revenue(settings) == pytest.approx({"A1": 123.0, "A2": 50.0, "A3": 0.0})
    # The stewards' queue ranks records by the same revenue: every amount was added as delivered (A1 120, A2 50, the
    # cancelled order of A3 10), the queue's first rows a yen or points customer's.
    assert _review_spend(settings) == pytest.approx({"accounts:A1": 123.0, "accounts:A2": 50.0, "accounts:A3": 0.0})
    with duckdb.connect(str(settings.restricted), read_only=True) as con:  # customer service: as delivered
        assert con.execute("SELECT source_record_id, amount, currency FROM marts.customer_timeline "
                           "WHERE activity_type = 'order' ORDER BY 1").fetchall() == [
            ("O1", 100.0, "EUR"), ("O2", 20.0, "GBP"), ("O3", 40.0, "CHF"), ("O4", 10.0, "USD"), ("O5", 10.0, "GBP")]
    with duckdb.connect(str(settings.published), read_only=True) as con:  # what marketing reads: euros only
        assert con.execute("SELECT sum(revenue) FROM marts.segment_summary").fetchall()[0][0] == pytest.approx(173.0)
        assert sorted(r[0] for r in con.execute("SELECT monetary FROM marts.customer_360").fetchall()) \
            == pytest.approx([0.0, 50.0, 123.0])
    materialised = {tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata
                    for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert materialised[("golden", "customer_activity")]["amounts_unconverted"].value == 1
    warnings = [log.user_message for log in instance.all_logs(result.run_id) if "left out of every total" in
                log.user_message]
    assert len(warnings) == 1 and "1 in USD (orders)" in warnings[0]
    assert not any(v in warnings[0] for person in PEOPLE for v in person[1:])  # no personal value

    # The operator adds the missing rate (undated: any day): the next run converts it, without a new delivery.
    (tmp_path / "exchange_rates.csv").write_text(RATES + ",USD,EUR,0.9\n", encoding="utf-8")
    materialise(settings)
    assert _revenue(settings) == pytest.approx({"A1": 123.0, "A2": 59.0, "A3": 0.0})
    assert _review_spend(settings)["accounts:A2"] == pytest.approx(59.0)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM golden.unconverted_amounts").fetchall() == [(0,)]


def test_an_amount_keeps_the_currency_its_sign_code_or_name_writes():
    assert parse_money("CHF 12.50") == (12.5, "CHF", None)
    assert parse_money("£3") == (3.0, "GBP", None)
    assert parse_money("12,50 EUR", ",") == (12.5, "EUR", None)
    assert parse_money("12 euros") == (12.0, "EUR", None)
    assert parse_money("(chf 3.20)") == (-3.2, "CHF", None)
    assert parse_money("US$ 1,234.50") == (1234.5, "USD", None)
    assert parse_money("$12") == (12.0, "USD", None)
    assert parse_money("$12", ".", "CAD") == (12.0, "CAD", None)  # the source's declared dollar
    assert parse_money("12.5") == (12.5, None, None)  # none written: the source's, else the house currency
    assert parse_money("€12 USD")[2] == "'€12 USD' writes two currencies (EUR, USD)"
    assert parse_money("12 XYZ")[2] == "'12 XYZ': XYZ is no ISO 4217 currency code"
    assert parse_decimal("CHF 12.50") == (12.5, None)


def test_a_source_with_person_and_amount_keeps_its_currency_and_the_sources_file_checks_codes(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("""
sources:
  - name: marketplace
    channel: online
    format: csv
    files: m/**/*.csv
    record_id: id
    currency: chf
    person: {email: mail}
    activity: {type: order, amount: price}
""", encoding="utf-8")
    source, = load_sources(path)
    assert source.currency == "CHF"
    (tmp_path / "raw" / "m" / "2026-11-01").mkdir(parents=True)
    (tmp_path / "raw" / "m" / "2026-11-01" / "m.csv").write_text(
        "id,mail,price\nM1,a@example.ch,12.00\nM2,b@example.ch,€5\nM3,c@example.ch,\n", encoding="utf-8")
    staged = stage_source(source, read_source(source, tmp_path / "raw").rows, date(2026, 11, 1))
    assert staged.activities["currency"].tolist() == ["CHF", "EUR", None]
    path.write_text(path.read_text().replace("currency: chf", "currency: euros"), encoding="utf-8")
    with pytest.raises(SourcesFileError, match="no ISO 4217 currency code"):
        load_sources(path)


def test_the_rates_file_gives_rates_into_the_house_currency_and_names_a_bad_line(tmp_path):
    path = tmp_path / "exchange_rates.csv"
    assert read_rates(path, "EUR").empty  # absent: no rate, every other currency left out
    path.write_text(RATES + ",usd,eur,0.9\n", encoding="utf-8")
    rates = {(c, str(d)): r for c, d, r in read_rates(path, "EUR").itertuples(index=False)}
    assert rates == pytest.approx({("GBP", "2026-01-01"): 1.15, ("GBP", "2026-10-05"): 1.30,
                                   ("CHF", "2026-01-01"): 1.25, ("USD", "0001-01-01"): 0.9})
    path.write_text(RATES + "2026-13-01,USD,EUR,0.9\n", encoding="utf-8")
    with pytest.raises(RatesFileError, match="exchange_rates.csv, line 6"):
        read_rates(path, "EUR")
    path.write_text(RATES + "2026-11-01,USD,EUR,-1\n", encoding="utf-8")
    with pytest.raises(RatesFileError, match="line 6: a rate is a positive number"):
        read_rates(path, "EUR")


def test_a_currency_column_names_each_orders_currency(tmp_path):
    # A web shop selling in several countries exports one `currency` column beside plain totals (Shopify's orders
    # export does): each order is converted from its own, an empty cell is the house currency, and the order with no
    # rate is left out and listed. Until 2026-11-29 the column could not be mapped: every total was summed as euros.
    settings = _project(tmp_path)
    (tmp_path / "sources.yaml").write_text(
        SOURCES.replace("amount: {column: total, currency: GBP}   # an amount writing no currency is in pounds",
                        "amount: total\n      currency: cur"), encoding="utf-8")
    orders = [("O1", "A1", "100.00", "EUR"), ("O2", "A1", "20", "gbp"), ("O3", "A2", "40", "CHF"),
              ("O4", "A2", "10", "USD"), ("O5", "A3", "10", "")]
    (tmp_path / "raw" / "orders" / "2026-10-05" / "o.csv").write_text("order_id,account,day,total,cur,status\n" + "".join(
        f"{o},{a},2026-10-01,{t},{c},paid\n" for o, a, t, c in orders), encoding="utf-8")
    materialise(settings)
    assert _revenue(settings) == pytest.approx({"A1": 123.0, "A2": 50.0, "A3": 10.0})
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, currency, reason FROM golden.unconverted_amounts").fetchall() \
            == [("O4", "USD", "no USD->EUR rate in the exchange rates file")]
