"""`customer360 report`: one static HTML page of what the runs did, for people who would rather look than read.

Every figure is an aggregate of the warehouse (counts, shares, probabilities binned): no name, e-mail, phone or
address can reach the page, so it can be mailed around. Charts are Vega-Lite specs (Altair, already installed
with Splink) rendered to inline SVG by vl-convert, so the page needs no network and no JavaScript."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd
import vl_convert

from pipeline.private_files import replaced_whole

BINS = 20


@dataclass
class Figure:
    title: str
    note: str
    chart: alt.TopLevelMixin | None = None
    table: pd.DataFrame | None = None


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}


def customers_by_size(con: duckdb.DuckDBPyConnection) -> Figure:
    frame = con.execute("""
        SELECT records, count(*) AS customers
        FROM (SELECT customer_id, count(*) AS records FROM marts.customer_xref GROUP BY customer_id)
        GROUP BY records ORDER BY records""").df()
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("records:O", title="source records in the customer"), y=alt.Y("customers:Q", title="customers"))
    return Figure("Customers by number of source records",
                  "How many source records each customer was built from (1 = found in one system only).", chart)


def match_probabilities(con: duckdb.DuckDBPyConnection, threshold: float) -> Figure:
    frame = con.execute(f"""
        SELECT least(floor(match_probability * {BINS}), {BINS - 1}) / {BINS} AS bin, count(*) AS pairs
        FROM identity.pairwise_predictions GROUP BY bin ORDER BY bin""").df()
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("bin:Q", title="match probability", scale=alt.Scale(domain=[0, 1])), x2="end:Q",
        y=alt.Y("pairs:Q", title="scored pairs (log scale)", scale=alt.Scale(type="symlog")), y2=alt.datum(0),
    ).transform_calculate(end=f"datum.bin + {1 / BINS}")
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(color="firebrick", strokeDash=[4, 3]) \
        .encode(x="threshold:Q")
    return Figure("Match probability of the scored pairs",
                  f"Every candidate pair Splink scored (log scale); pairs right of the dashed line ({threshold}) "
                  "may join one customer unless contrary evidence keeps them apart.", bars + rule)


def comparisons_by_rule(con: duckdb.DuckDBPyConnection) -> Figure | None:
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                          "table_schema = 'identity' AND table_name = 'pairwise_predictions'").fetchall()}
    if "match_key" not in columns:
        return None
    frame = con.execute("""SELECT CAST(match_key AS VARCHAR) AS rule, count(*) AS comparisons
                           FROM identity.pairwise_predictions GROUP BY ALL ORDER BY comparisons DESC""").df()
    chart = alt.Chart(frame).mark_bar().encode(y=alt.Y("rule:N", sort="-x", title="blocking rule (match key)"),
                                               x=alt.X("comparisons:Q", title="pairs kept"))
    return Figure("Scored pairs per blocking rule",
                  "Which blocking rule first generated each scored pair (Splink's match_key).", chart)


def linkage_quality(con: duckdb.DuckDBPyConnection) -> Figure:
    frame = con.execute("""SELECT measured_at, pairwise_precision AS precision, pairwise_recall AS recall,
                                  pairwise_f1 AS f1, persons_exactly_resolved, largest_cluster
                           FROM identity.linkage_quality ORDER BY measured_at""").df()
    long = frame.melt(id_vars=["measured_at"], value_vars=["precision", "recall", "f1"], var_name="measure")
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("measured_at:T", title="run"), y=alt.Y("value:Q", scale=alt.Scale(zero=False)), color="measure:N")
    return Figure("Linkage quality over runs",
                  "Pairwise precision, recall and F1 against the truth file (C360_TRUTH), one point per run.", chart,
                  frame.tail(10).round(4))


def data_quality(con: duckdb.DuckDBPyConnection) -> Figure:
    frame = con.execute("""
        SELECT source, measured_at, quarantine_share, email_valid_share, phone_valid_share
        FROM marts.data_quality ORDER BY measured_at, source""").df()
    long = frame.melt(id_vars=["source", "measured_at"], var_name="measure", value_name="share").dropna()
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("measured_at:T", title="run"), y=alt.Y("share:Q", title="share of rows"), color="source:N",
        strokeDash="measure:N")
    latest = frame[frame["measured_at"] == frame["measured_at"].max()].drop(columns="measured_at")
    return Figure("Data quality per source over runs",
                  "Quarantined rows, and valid e-mails and phones among those sent, per source and run.", chart,
                  latest.round(3))


def segment_sizes(con: duckdb.DuckDBPyConnection) -> Figure:
    frame = con.execute("""SELECT rfm_segment AS segment, loyalty_tier AS tier, sum(customers) AS customers
                           FROM marts.segment_summary GROUP BY ALL ORDER BY ALL""").df()
    chart = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("segment:N", sort="-x", title="RFM segment"), x=alt.X("customers:Q", title="customers"),
        color=alt.Color("tier:N", title="loyalty tier"))
    return Figure("Segment sizes", "Published customers per RFM segment and loyalty tier.", chart)


def segments_over_runs(con: duckdb.DuckDBPyConnection) -> Figure:
    frame = con.execute("""
        SELECT measured_at, rfm_segment AS segment, sum(customers) AS customers,
               round(sum(customers * email_opt_out_share) / sum(customers), 4) AS email_opt_out_share,
               round(sum(customers * contactable_email_share) / sum(customers), 4) AS contactable_email_share
        FROM marts.segment_history GROUP BY ALL ORDER BY ALL""").df()
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("measured_at:T", title="run"), y=alt.Y("customers:Q", title="customers"), color="segment:N")
    latest = frame[frame["measured_at"] == frame["measured_at"].max()].drop(columns="measured_at")
    return Figure("Segments over runs", "Customers per RFM segment at each run; the table gives the latest run's "
                  "e-mail opt-out share and share contactable by e-mail.", chart, latest)


def figures(warehouse: Path, threshold: float) -> list[Figure]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = _tables(con)
        wanted = [("marts.customer_xref", customers_by_size), ("identity.pairwise_predictions",
                  lambda c: match_probabilities(c, threshold)), ("identity.pairwise_predictions", comparisons_by_rule),
                  ("identity.linkage_quality", linkage_quality), ("marts.data_quality", data_quality),
                  ("marts.segment_summary", segment_sizes), ("marts.segment_history", segments_over_runs)]
        built = [build(con) for table, build in wanted if table in tables]
    return [f for f in built if f is not None]


def _svg(chart: alt.TopLevelMixin) -> str:
    return vl_convert.vegalite_to_svg(chart.properties(width=640, height=260).to_dict())


def write_report(warehouse: Path, out: Path, threshold: float) -> Path:
    """Write the page (owner-only, like every file of the pipeline's) and return its path."""
    sections = []
    for fig in figures(warehouse, threshold):
        parts = [f"<h2>{html.escape(fig.title)}</h2>", f"<p>{html.escape(fig.note)}</p>"]
        if fig.chart is not None:
            parts.append(_svg(fig.chart))
        if fig.table is not None:
            parts.append(fig.table.to_html(index=False, border=0))
        sections.append("<section>" + "\n".join(parts) + "</section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>customer360 run report</title><style>"
            "body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}table{border-collapse:collapse}"
            "td,th{padding:2px 8px;text-align:right}</style></head><body><h1>customer360 run report</h1>"
            + "\n".join(sections) + "</body></html>")
    with replaced_whole(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
