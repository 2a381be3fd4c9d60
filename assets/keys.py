"""Every asset key, declared once: a table `schema.name` of the warehouse is the asset `schema/name`.

A module that builds a table and a module that reads it both import its key from here (two modules once
declared marts/customer_xref each, and two different tables were both called CONTACT_POINTS). Where each
table is built: README, "Layout".
"""

import dagster as dg

from pipeline.config import Source


def raw_key(source: Source) -> dg.AssetKey:
    """raw/<source>: every line of a source's files as read (assets/sources.py)."""
    return dg.AssetKey(["raw", source.name])


# staging (assets/staging.py; validated_files: assets/quality.py)
PERSON_RECORDS = dg.AssetKey(["staging", "person_records"])
ACTIVITIES = dg.AssetKey(["staging", "activities"])
FIELD_ISSUES = dg.AssetKey(["staging", "field_issues"])
QUARANTINE = dg.AssetKey(["staging", "quarantine"])
ERASURE_REQUESTS = dg.AssetKey(["staging", "erasure_requests"])
VALIDATED_FILES = dg.AssetKey(["staging", "validated_files"])

# identity (assets/identity.py; linkage_quality: assets/evaluation.py; erasure_registry, decision_log: assets/golden.py)
LINKAGE_INPUT = dg.AssetKey(["identity", "linkage_input"])
PREDICTIONS = dg.AssetKey(["identity", "pairwise_predictions"])
STEWARD_DECISIONS = dg.AssetKey(["identity", "steward_decisions"])
CLUSTERS = dg.AssetKey(["identity", "clusters"])
RECORD_CUSTOMER = dg.AssetKey(["identity", "record_customer"])
ID_REGISTRY = dg.AssetKey(["identity", "id_registry"])
ID_EVENTS = dg.AssetKey(["identity", "id_events"])
REVIEW_QUEUE = dg.AssetKey(["identity", "review_queue"])
LINKAGE_QUALITY = dg.AssetKey(["identity", "linkage_quality"])
ERASURE_REGISTRY = dg.AssetKey(["identity", "erasure_registry"])
DECISION_LOG = dg.AssetKey(["identity", "decision_log"])

# golden (assets/golden.py; purge_log: assets/marts.py)
PROFILE = dg.AssetKey(["golden", "customer_profile"])
ACTIVITY = dg.AssetKey(["golden", "customer_activity"])
STITCHED_SESSIONS = dg.AssetKey(["golden", "stitched_sessions"])
SHARED_DEVICES = dg.AssetKey(["golden", "shared_devices"])
CONSENT_EVENTS = dg.AssetKey(["golden", "consent_events"])
CONSENT_STATE = dg.AssetKey(["golden", "consent_state"])
POINT_CONSENT_STATE = dg.AssetKey(["golden", "point_consent_state"])
GOLDEN_CONTACT_POINTS = dg.AssetKey(["golden", "contact_points"])
HOUSEHOLDS = dg.AssetKey(["golden", "households"])
EXCLUDED = dg.AssetKey(["golden", "excluded_customers"])
CHANGED_CUSTOMERS = dg.AssetKey(["golden", "changed_customers"])
PURGE_LOG = dg.AssetKey(["golden", "purge_log"])

# marts (assets/marts.py; data_quality: assets/quality.py)
CUSTOMER_XREF = dg.AssetKey(["marts", "customer_xref"])
CUSTOMER_360 = dg.AssetKey(["marts", "customer_360"])
CONSENT_HISTORY = dg.AssetKey(["marts", "consent_history"])
HOUSEHOLD = dg.AssetKey(["marts", "household"])
SEGMENT_SUMMARY = dg.AssetKey(["marts", "segment_summary"])
SEGMENT_HISTORY = dg.AssetKey(["marts", "segment_history"])
CUSTOMER_HISTORY = dg.AssetKey(["marts", "customer_history"])
MARTS_CONTACT_POINTS = dg.AssetKey(["marts", "contact_points"])
CUSTOMER_TIMELINE = dg.AssetKey(["marts", "customer_timeline"])
DATA_QUALITY = dg.AssetKey(["marts", "data_quality"])
# What the published copies hold: every table of schema marts.
MARTS = (CUSTOMER_XREF, CUSTOMER_360, CONSENT_HISTORY, HOUSEHOLD, SEGMENT_SUMMARY, DATA_QUALITY, CUSTOMER_HISTORY,
         CUSTOMER_TIMELINE, SEGMENT_HISTORY, MARTS_CONTACT_POINTS)

# the copies (assets/publication.py): files beside the warehouse, not tables in it
PUBLISHED = dg.AssetKey(["published", "marts"])
RESTRICTED = dg.AssetKey(["restricted", "marts"])
# the warehouse file rewritten after a purge (assets/compaction.py)
WAREHOUSE_COMPACTION = dg.AssetKey(["privacy", "warehouse_compaction"])
