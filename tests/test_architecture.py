"""The library's shape: `pipeline/` runs without Dagster, and data flows one way through its layers.

Read from the source (every import, those inside functions too), so a shortcut taken in a hurry fails here
rather than surfacing as an import cycle or as the library needing Dagster to normalise a phone number."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"

# The layers in the order data flows through them; a module may import its own layer and those before it.
# `foundation` is what every layer shares (settings, SQL habits, atomic writes, one value's normalisation).
LAYERS = {
    "foundation": {"config", "drop_days", "sql", "warehouse", "compaction", "normalise", "private_files", "private_text", "text_repair", "formula_guard",
                   "run_lock", "progress", "instance", "currency", "dictionary", "alerts"},
    "sources": {"drops", "csv_records", "spreadsheet", "trailers", "export_parts", "delivery_history", "extract"},
    "staging": {"staging", "staging_changes", "staging_read", "staging_activities", "staging_lookup",
                "staging_rules", "staging_renamed"},
    "identity": {"identity"},
    "golden": {"golden"},
    "marts": {"marts", "audience", "audience_log"},
    "published": {"publish"},
}
# Beside the chain: they read several layers (the checks, the report, erasure of files, the demo generator), and
# no layer imports them.
BESIDE = {"quality", "forget", "report", "run_report", "demo"}
ORDER = {name: rank for rank, layer in enumerate(LAYERS.values()) for name in layer}
ORCHESTRATION = ("dagster", "dagster_duckdb", "dagster_webserver", "assets")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _part(module: str) -> str | None:
    """`pipeline.identity.link` -> `identity`; `pipeline.staging_read` -> `staging_read`; None outside `pipeline`."""
    parts = module.split(".")
    return parts[1] if parts[0] == "pipeline" and len(parts) > 1 else None


MODULES = sorted(p for p in PIPELINE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_of_the_library_is_placed():
    parts = {p.relative_to(PIPELINE).parts[0].removesuffix(".py") for p in MODULES} - {"__init__"}
    assert parts - set(ORDER) - BESIDE == set(), "a new module of pipeline/ needs its layer in LAYERS"


def test_the_library_never_imports_dagster_or_its_wiring():
    offenders = {str(p.relative_to(PIPELINE)): sorted(m for m in _imports(p) if m.split(".")[0] in ORCHESTRATION)
                 for p in MODULES}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_a_layer_imports_only_the_layers_before_it():
    offenders = {}
    for path in MODULES:
        own = path.relative_to(PIPELINE).parts[0].removesuffix(".py")
        if own in BESIDE or own == "__init__":
            continue
        later = sorted(m for m in _imports(path)
                       if (part := _part(m)) and (part in BESIDE or ORDER.get(part, -1) > ORDER[own]))
        if later:
            offenders[str(path.relative_to(PIPELINE))] = later
    assert offenders == {}, "imports from further down the chain"
