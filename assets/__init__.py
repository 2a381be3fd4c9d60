"""Dagster wiring, one module per layer; the work itself lives in `pipeline`."""
