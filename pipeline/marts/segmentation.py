"""Segmentation indicators: RFM scores and segments, loyalty tier, engagement score, churn risk.

Formulas (README, "Segmentation"):
- recency = days since the last purchase; frequency = purchases; monetary = revenue, all channels.
- R, F, M scores 1-5: 1 + floor(5 x percent rank) among purchasers (ties share a score; R ranks recency
  descending, so recent buyers score 5).
- tier: the loyalty programme status. A customer holding a loyalty card gets the highest tier of
  seeds/loyalty_tiers.csv whose min_points their cards' points balance reaches; one without a card has no tier
  ('none'): spending without a card does not make a programme member.
- engagement (0-100): 40 if e-mail consent is opted in + 30 x min(sessions in 90 days, 10) / 10
  + 15 if a review in 12 months + 15 if a purchase in 90 days.
- churn risk: a purchaser whose recency exceeds max(180 days, twice their average gap between purchases).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from pipeline.config import SEEDS_DIR
from pipeline.sql import literal

RFM_SEGMENTS = """
CASE
    WHEN frequency = 0 THEN 'prospect'
    WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'champions'
    WHEN r_score >= 4 AND first_purchase_at >= $as_of::DATE - INTERVAL 90 DAY THEN 'new'
    WHEN f_score >= 4 AND r_score >= 3 THEN 'loyal'
    WHEN r_score >= 4 THEN 'promising'
    WHEN r_score <= 2 AND f_score >= 3 THEN 'at_risk'
    WHEN r_score <= 2 THEN 'hibernating'
    ELSE 'needs_attention'
END"""


SEGMENT_NAMES = tuple(re.findall(r"(?:THEN|ELSE) '(\w+)'", RFM_SEGMENTS))
NO_TIER = "none"  # a customer without a loyalty card


def tier_names(path: Path = SEEDS_DIR / "loyalty_tiers.csv") -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row["tier"] for row in csv.DictReader(f)] + [NO_TIER]


def tiers_sql(path: Path = SEEDS_DIR / "loyalty_tiers.csv") -> str:
    return f"SELECT tier, CAST(min_points AS DOUBLE) AS min_points FROM read_csv({literal(path)}, header = true)"


def segmentation_sql(tiers_path: Path = SEEDS_DIR / "loyalty_tiers.csv") -> str:
    """customer_id + RFM, tier, engagement, churn risk, from golden.customer_activity and consent state, as of
    the parameter `$as_of` (a date)."""
    return f"""
    WITH base AS (
        SELECT a.customer_id, a.first_purchase_at, a.last_purchase_at, a.revenue_12m, a.sessions_90d, a.reviews_12m,
               a.loyalty_cards, a.loyalty_points,
               a.orders_online + a.orders_offline                          AS frequency,
               a.revenue_online + a.revenue_offline                        AS monetary,
               date_diff('day', a.last_purchase_at, $as_of::DATE)         AS recency_days,
               date_diff('day', a.first_purchase_at, a.last_purchase_at)
                   / nullif(a.orders_online + a.orders_offline - 1, 0)     AS avg_gap_days,
               coalesce(c.state = 'opt_in', false)                         AS email_opt_in
        FROM golden.customer_activity a
        LEFT JOIN golden.consent_state c ON c.customer_id = a.customer_id AND c.channel = 'email'
        WHERE a.customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)
    ),
    scored AS (
        SELECT *,
               CASE WHEN frequency > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
                   PARTITION BY frequency > 0 ORDER BY recency_days DESC)))::INT END AS r_score,
               CASE WHEN frequency > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
                   PARTITION BY frequency > 0 ORDER BY frequency)))::INT END AS f_score,
               CASE WHEN frequency > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
                   PARTITION BY frequency > 0 ORDER BY monetary)))::INT END AS m_score
        FROM base
    ),
    tiers AS ({tiers_sql(tiers_path)})
    SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score,
           {RFM_SEGMENTS} AS rfm_segment,
           CASE WHEN coalesce(loyalty_cards, 0) = 0 THEN 'none'
                ELSE (SELECT tier FROM tiers WHERE coalesce(loyalty_points, 0) >= min_points
                      ORDER BY min_points DESC LIMIT 1) END AS loyalty_tier,
           (40 * email_opt_in::INT + 30 * least(sessions_90d, 10) / 10.0 + 15 * (reviews_12m > 0)::INT
               + 15 * coalesce(recency_days <= 90, false)::INT)::INT AS engagement_score,
           coalesce(frequency > 0 AND recency_days > greatest(180, 2 * coalesce(avg_gap_days, 90)), false)
               AS churn_risk
    FROM scored
    """
