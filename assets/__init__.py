"""Dagster wiring, one module per layer, and the Dagster edge (code location, resources, runner, CLI); the work
itself lives in `pipeline`, which never imports Dagster."""
