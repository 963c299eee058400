"""Published numbers, the audit of the paper's averages, table specs, and generated tables.

The entry points for other modules:
- ``runs_needed(table, profile, models=None, seeds=1) -> list[RunKey]``: what a table needs run;
- ``render_table(table, profile, results_root, out_dir, seeds=None) -> list[Path]``: write it;
- ``audit(load_published())``: where the paper disagrees with itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from aspo_repro.tables.audit import AuditFinding, audit, format_audit
from aspo_repro.tables.catalog import (
    choices_help,
    known_names,
    paper_names,
    requested_names,
    table_names,
)
from aspo_repro.tables.published import RowKey, load_published
from aspo_repro.tables.specs import (
    FigureSpec,
    SweepSpec,
    TableSpec,
    canonical_table,
    load_spec,
    runs_needed,
)


def render_table(
    table: str | int,
    profile: str,
    results_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    seeds: int | None = None,
    *,
    published_path: str | os.PathLike | None = None,
    command: str | None = None,
    warning: str = "",
) -> list[Path]:
    """Render ``table`` (one of ``known_names()``) from the results under ``results_root`` into ``out_dir``.

    Tables become ``table<N>.md`` and ``table<N>.tex``; Figure 3 becomes ``figure3.png``, ``.pdf``
    and ``.md``. ``seeds=None`` uses every seed found; ``seeds=K`` seeds 0..K-1 and shows how many
    of the K each cell has. Runs without results show as missing; returns the paths written.
    """
    from aspo_repro.references import check_reference_write
    from aspo_repro.results import collect
    from aspo_repro.tables.diagnosis import load_diagnoses
    from aspo_repro.tables.figure import write_figure
    from aspo_repro.tables.grid import build_grid
    from aspo_repro.tables.render import make_context, write_table
    from aspo_repro.tables.specs import seed_range

    spec = load_spec(table, profile)
    if seeds is not None:
        seed_range(seeds)
    check_reference_write(out_dir)
    published = load_published(published_path)
    results = collect(results_root, profile)
    command = command or f"python -m aspo_repro tables --table {spec.table} --profile {profile}"
    context = make_context(command, results_root, results, warning)
    if isinstance(spec, SweepSpec):
        from aspo_repro.tables.sweep import write_sweep

        return write_sweep(spec, results_root, context, out_dir, seeds)
    if isinstance(spec, FigureSpec):
        return write_figure(spec, results, published, context, out_dir, seeds)
    grid = build_grid(spec, results, published, audit(published), seeds)
    grid.diagnoses = load_diagnoses(results_root, profile, spec.models)
    return write_table(grid, context, out_dir)


__all__ = [
    "AuditFinding",
    "FigureSpec",
    "RowKey",
    "TableSpec",
    "audit",
    "canonical_table",
    "choices_help",
    "format_audit",
    "known_names",
    "paper_names",
    "requested_names",
    "load_published",
    "load_spec",
    "render_table",
    "runs_needed",
    "table_names",
]
