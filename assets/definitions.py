"""The Dagster code location: assets of every layer, loaded explicitly from `assets/`, built from the sources file."""

from __future__ import annotations

import dagster as dg

from assets import automation, compaction, golden, identity, marts, publication, quality
from assets import sources as sources_layer
from assets import staging as staging_layer
from assets.resources import build_resources
from assets.runner import partition_start
from pipeline.config import Settings, load_sources

# Who answers for each layer (Dagster shows owners on every asset page; rename to your teams).
OWNERS = {"raw": "team:data-engineering", "staging": "team:data-engineering", "identity": "team:data-stewardship",
          "customer_ids": "team:data-stewardship",
          "golden": "team:data-stewardship", "marts": "team:crm-analytics", "published": "team:crm-analytics",
          "restricted": "team:customer-service", "privacy": "team:data-stewardship"}


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(owners=[OWNERS[spec.key.path[0]]]) if spec.key.path[0] in OWNERS else spec


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    sources = load_sources(settings.sources_file)
    partitions = sources_layer.drop_partitions(partition_start(settings, sources))
    job, automations = automation.build(settings, partitions)
    return dg.Definitions(
        jobs=[job],
        schedules=[a for a in automations if isinstance(a, dg.ScheduleDefinition)],
        sensors=[a for a in automations if isinstance(a, dg.SensorDefinition)],
        assets=dg.map_asset_specs(_owned, [
            *sources_layer.build(sources, partitions),
            *staging_layer.build(sources),
            *quality.build(sources),
            *dg.load_assets_from_modules([identity, golden, marts, publication, compaction]),
        ]),
        asset_checks=dg.load_asset_checks_from_modules([marts]),
        resources=build_resources(settings),
        # One process writes the DuckDB file at a time (DuckDB allows a single writer).
        executor=dg.in_process_executor,
    )


defs = build_definitions()
