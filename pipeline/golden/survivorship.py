"""Survivorship rules from seeds/survivorship.yaml rendered as SQL: one winning record per attribute.

For each attribute the candidate records of a customer are ranked by the configured rule and the
first one wins; its value, source, record id and date are kept as lineage (`email`, `email_source`,
`email_source_record_id`, `email_updated_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config import SEEDS_DIR

RULES = ("trust_rank", "most_recent", "most_frequent", "most_complete")
# A record's own date first; the delivery day only orders records that have none (a dateless export).
_RECENT = ["record_updated_at DESC NULLS LAST", "record_delivered_at DESC NULLS LAST"]
_TIE_BREAK = ["trust_rank ASC", *_RECENT, "source", "source_record_id"]


@dataclass(frozen=True)
class Attribute:
    name: str
    rule: str
    columns: tuple[str, ...]
    valid: str | None = None
    where: str | None = None
    prefer: str | None = None  # records where this holds rank first, before the rule (a street-bearing address)


def load_rules(path: Path = SEEDS_DIR / "survivorship.yaml") -> list[Attribute]:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    attributes = []
    for name, spec in (doc.get("attributes") or {}).items():
        if spec.get("rule") not in RULES:
            raise ValueError(f"survivorship: attribute '{name}' has rule {spec.get('rule')!r}; allowed: {RULES}")
        attributes.append(Attribute(name, spec["rule"], tuple(spec.get("columns") or [name]),
                                    spec.get("valid"), spec.get("where"), spec.get("prefer")))
    return attributes


def _order(attr: Attribute) -> str:
    first = attr.columns[0]
    by_rule = {
        "trust_rank": [],
        "most_recent": _RECENT,
        "most_frequent": ["_agreeing DESC"],
        "most_complete": [f"length(CAST({first} AS VARCHAR)) DESC"],
    }[attr.rule]
    return ", ".join(([f"({attr.prefer}) DESC"] if attr.prefer else []) + by_rule + _TIE_BREAK)


def winner_sql(attr: Attribute, records: str = "golden_candidates") -> str:
    """customer_id, the attribute's column(s) renamed, and its lineage, for one attribute."""
    conditions = [f"coalesce({', '.join(attr.columns)}) IS NOT NULL"]  # a unit with a value
    if attr.valid:
        conditions.append(attr.valid)
    if attr.where:
        conditions.append(f"({attr.where})")
    names = [attr.name] if len(attr.columns) == 1 else list(attr.columns)
    values = ", ".join(f"{c} AS {n}" for c, n in zip(attr.columns, names, strict=False))
    return f"""
    SELECT customer_id, {values},
           source AS {attr.name}_source,
           source_record_id AS {attr.name}_source_record_id,
           record_updated_at AS {attr.name}_updated_at
    FROM (SELECT *, count(*) OVER (PARTITION BY customer_id, {', '.join(attr.columns)}) AS _agreeing
          FROM {records} WHERE {' AND '.join(conditions)})
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY {_order(attr)}) = 1"""


def golden_attributes_sql(attributes: list[Attribute], records: str = "golden_candidates") -> str:
    """One row per customer_id with every surviving attribute and its lineage. The records are read once
    (MATERIALIZED): read by each attribute, the view joined every staged record to its customer once per
    attribute (at 1M records, incremental day: 0.78 -> 0.55 CPU s, the same rows)."""
    ctes = ",\n".join(f"w_{a.name} AS ({winner_sql(a, '_records')})" for a in attributes)
    joins = "\n".join(f"LEFT JOIN w_{a.name} USING (customer_id)" for a in attributes)
    return f"""
    WITH _records AS MATERIALIZED (SELECT * FROM {records}),
    {ctes},
    customers AS (SELECT DISTINCT customer_id FROM _records)
    SELECT * FROM customers
    {joins}"""
