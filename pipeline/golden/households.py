"""Households: customers living together, from the golden address + surname and shared contact points.

Two customers are one household when they share a normalised street + postcode + surname, a landline, or
an e-mail (a family mailbox). household_id is opaque and stable while the household's earliest customer
stays in it."""

from __future__ import annotations

import hashlib

import pandas as pd


def households(profile: pd.DataFrame) -> pd.DataFrame:
    """profile: customer_id, street_norm, postcode, last_name_norm, landline, email -> customer_id, household_id."""
    parent = {c: c for c in profile["customer_id"]}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = {
        "address": profile["street_norm"].astype(str) + "|" + profile["postcode"].astype(str) + "|"
                   + profile["last_name_norm"].astype(str),
        "landline": profile["landline"], "email": profile["email"],
    }
    valid = {"address": profile["street_norm"].notna() & profile["postcode"].notna() & profile["last_name_norm"].notna(),
             "landline": profile["landline"].notna(), "email": profile["email"].notna()}
    for name, key in keys.items():
        first: dict[str, str] = {}
        for customer, value in zip(profile["customer_id"][valid[name]], key[valid[name]]):
            if value in first:
                parent[find(customer)] = find(first[value])
            else:
                first[value] = customer
    roots = {c: find(c) for c in parent}
    earliest: dict[str, str] = {}
    for customer, root in roots.items():
        earliest[root] = min(earliest.get(root, customer), customer)
    return pd.DataFrame({
        "customer_id": list(roots),
        "household_id": ["H" + hashlib.sha256(earliest[r].encode()).hexdigest()[:15].upper() for r in roots.values()],
    })
