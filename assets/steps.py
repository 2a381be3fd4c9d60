"""Assets that always run together, built in one Dagster step while each keeps its place in the lineage.

Why: a step costs Dagster's own bookkeeping (events written to the run's log, outputs handled), 0.1-0.2 s with the
SQLite event log of `customer360 run`, more than most of these assets' SQL on an incremental day
(bench/step_profile.py). Grouping them changes what the run view lists as steps, not the asset graph: every asset
keeps its key, group, owner, description, kinds and dependencies, and an operator can still materialise one of
them alone (the step builds the selected assets only, in the order declared). Dagster may run steps that are ready at
the same time in any order (the in-process executor takes them by name): an order that matters must be a declared
dependency (the published copies came after the purge only by name, until a step was renamed).

    GOLDEN_STEP = Step("golden")

    @GOLDEN_STEP.asset(PROFILE, deps=[...], group_name="golden")
    def customer_profile(duckdb: DuckDBResource) -> dg.MaterializeResult: ...

    @dg.multi_asset(specs=GOLDEN_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=GOLDEN_STEP.name)
    def golden(context, duckdb: DuckDBResource, settings: RunSettings):
        yield from GOLDEN_STEP.materialize(context, duckdb=duckdb, settings=settings)

A member is a plain function: called with the arguments it names (`context`, resources, `config`), it returns the
MaterializeResult of its asset, as an asset function would.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg


@dataclass
class Step:
    name: str
    members: list[tuple[dg.AssetSpec, Callable[..., dg.MaterializeResult]]] = field(default_factory=list)

    def asset(self, key: dg.AssetKey, deps: list[dg.AssetKey], group_name: str,
              kinds: frozenset[str] = frozenset({"duckdb"})) -> Callable:
        """Declare a member, after the members it depends on (they are built in this order)."""
        def register(fn: Callable[..., dg.MaterializeResult]) -> Callable[..., dg.MaterializeResult]:
            # the description @dg.asset would take from the docstring (dedented, public API only)
            spec = dg.AssetSpec(key, deps=deps, group_name=group_name, kinds=set(kinds), description=inspect.getdoc(fn))
            self.members.append((spec, fn))
            return fn
        return register

    def specs(self) -> list[dg.AssetSpec]:
        """The members' specs; each member's dependencies inside the step are declared before it."""
        keys = [spec.key for spec, _ in self.members]
        for position, (spec, _) in enumerate(self.members):
            later = {dep.asset_key for dep in spec.deps} & set(keys[position:])
            if later:
                raise ValueError(f"step {self.name}: {spec.key.to_user_string()} is declared before "
                                 f"{sorted(k.to_user_string() for k in later)}, which it depends on")
        return [spec for spec, _ in self.members]

    def materialize(self, context: dg.AssetExecutionContext, **available) -> Iterator[dg.MaterializeResult]:
        """Build the selected members in the order declared, each with the arguments it names."""
        for spec, result in _run_selected(self.members, context.selected_asset_keys, context=context, **available):
            yield dg.MaterializeResult(asset_key=spec.key, metadata=result.metadata, check_results=result.check_results)


@dataclass
class CheckStep:
    """Checks that always run together, in one Dagster step: each keeps its asset, name, description and whether
    it blocks; the step evaluates the selected ones, in the order declared, and yields every result before Dagster
    stops what a failed blocking check guards. A member is a plain function called with the arguments it names,
    returning its AssetCheckResult."""

    name: str
    members: list[tuple[dg.AssetCheckSpec, Callable[..., dg.AssetCheckResult]]] = field(default_factory=list)

    def check(self, asset: dg.AssetKey, name: str, description: str, blocking: bool = True) -> Callable:
        def register(fn: Callable[..., dg.AssetCheckResult]) -> Callable[..., dg.AssetCheckResult]:
            self.members.append((dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking), fn))
            return fn
        return register

    def specs(self) -> list[dg.AssetCheckSpec]:
        return [spec for spec, _ in self.members]

    def evaluate(self, context: dg.AssetCheckExecutionContext, **available) -> Iterator[dg.AssetCheckResult]:
        for spec, result in _run_selected(self.members, context.selected_asset_check_keys, context=context,
                                          **available):
            yield dg.AssetCheckResult(passed=result.passed, asset_key=spec.asset_key, check_name=spec.name,
                                      metadata=result.metadata, severity=result.severity, description=result.description)


def _run_selected(members: list, selected, **available) -> Iterator[tuple]:
    """(spec, result) of each selected member, in the order declared, called with the arguments it names."""
    for spec, fn in members:
        if spec.key in selected:
            yield spec, fn(**{name: available[name] for name in inspect.signature(fn).parameters})
