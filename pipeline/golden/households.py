"""Households: customers living together, from the golden address + surname and shared contact points.

Two customers are one household when they share a normalised street + postcode + surname, a landline, or
an e-mail (a family mailbox). household_id is opaque and stable while the household's earliest customer
stays in it."""

from __future__ import annotations

import hashlib

import pandas as pd

from pipeline.identity.clustering import connected_components


def households(profile: pd.DataFrame) -> pd.DataFrame:
    """profile: customer_id, street_norm, postcode, last_name_norm, landline, email -> customer_id, household_id."""
    keys = {
        "address": profile["street_norm"].astype(str) + "|" + profile["postcode"].astype(str) + "|"
                   + profile["last_name_norm"].astype(str),
        "landline": profile["landline"], "email": profile["email"],
    }
    valid = {"address": profile["street_norm"].notna() & profile["postcode"].notna() & profile["last_name_norm"].notna(),
             "landline": profile["landline"].notna(), "email": profile["email"].notna()}
    pairs = []
    for name, key in keys.items():  # each customer sharing a value is joined to the first customer with it
        shared = pd.DataFrame({"customer": profile["customer_id"][valid[name]], "value": key[valid[name]]})
        shared["first"] = shared.groupby("value")["customer"].transform("first")
        pairs += list(zip(shared["customer"], shared["first"]))
    roots = connected_components(list(profile["customer_id"]), pairs)
    earliest: dict[str, str] = {}
    for customer, root in roots.items():
        earliest[root] = min(earliest.get(root, customer), customer)
    return pd.DataFrame({
        "customer_id": list(roots),
        "household_id": ["H" + hashlib.sha256(earliest[r].encode()).hexdigest()[:15].upper() for r in roots.values()],
    })
