"""The stewards' review queue: uncertain pairs and doubtful clusters, most valuable first.

- `uncertain_pair`: scored between the review floor and the clustering threshold (the model hesitates);
- `vetoed_pair`: scored above the threshold but kept apart by contrary evidence (the model and the rules
  disagree);
- `outweighed_pair`: scored above the threshold but dropped because an exclusive alternative outweighs it
  (identity.outweighed_pairs, clustering.outweighed_by_rivals: a family contact matching two people who can
  never be one);
- `large_cluster` / `loose_cluster`: a customer of many records, or one whose records are mostly linked
  through others rather than to each other (a possible chain).
Pairs a steward already decided are left out. `same_customer` says whether the two records of a pair are
already in one customer (a vetoed pair is not, unless other records link them); filter on `item`. Value = activities and spend attached to the records, so the
customers that matter most come first. Facts are masked to what a comparison needs (initials, e-mail
domain, birth year, postcode); `command` writes the waterfall chart that explains the pair or customer.
"""

from pipeline.sql import query

_REVIEW_QUEUE_SQL = query("review_queue")  # pipeline/queries/review_queue.sql


def review_queue_sql() -> str:
    """The queue's SELECT; its thresholds are bound parameters: $review_floor, $threshold, $review_size."""
    return _REVIEW_QUEUE_SQL
