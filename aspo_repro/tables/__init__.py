"""Published numbers, the audit of the paper's averages, table specs, and generated tables.

The entry points for other modules:
- ``runs_needed(table, profile, models=None, seeds=1) -> list[RunKey]``: what a table needs run;
- ``render_table(table, profile, results_root, out_dir, seeds=None) -> list[Path]``: write it;
- ``audit(load_published())``: where the paper disagrees with itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aspo_repro.tables.audit import AuditFinding, audit, format_audit
from aspo_repro.tables.catalog import (
    choices_help,
    known_names,
    paper_names,
    requested_names,
    table_names,
    tables_on_profiles,
)
from aspo_repro.tables.published import RowKey, load_published
from aspo_repro.tables.specs import (
    BaseQualitySpec,
    FigureSpec,
    Spec,
    SweepSpec,
    TableSpec,
    WeightQualitySpec,
    canonical_table,
    load_spec,
    runs_needed,
)

if TYPE_CHECKING:
    import pandas as pd

    from aspo_repro.tables.grid import Grid
    from aspo_repro.tables.render import Context


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

    Tables become ``table<N>.md`` and ``table<N>.tex``; a figure (``figure3``, ``lr-sweep``,
    ``weight-quality``, ``base-quality``) becomes its ``.png``, ``.pdf`` and ``.md``. ``seeds=None`` uses every seed
    found; ``seeds=K`` seeds 0..K-1 and shows how many of the K each cell has. Runs without results show as missing; returns the paths written.
    """
    from aspo_repro.references import check_reference_write

    spec = load_spec(table, profile)
    if seeds is not None:
        from aspo_repro.tables.specs import seed_range

        seed_range(seeds)
    check_reference_write(out_dir)
    inputs = rendering_inputs(spec, results_root, seeds, published_path=published_path, command=command,
                              warning=warning)
    if not isinstance(spec, TableSpec):
        from aspo_repro.tables.figure import save_figure

        figure, markdown = build_figure(inputs)
        return save_figure(figure, markdown, Path(out_dir) / spec.name, inputs.context)
    from aspo_repro.tables.render import write_table

    return write_table(build_table_grid(inputs), inputs.context, out_dir)


@dataclass
class RenderingInputs:
    """What a table or figure is rendered from, in every format (Markdown, LaTeX, the HTML report)."""

    spec: Spec
    results_root: Path
    results: pd.DataFrame
    published: pd.DataFrame
    context: Context
    seeds: int | None = None


def rendering_inputs(
    spec: Spec, results_root: str | os.PathLike, seeds: int | None = None, *,
    published_path: str | os.PathLike | None = None, command: str | None = None, warning: str = "",
) -> RenderingInputs:
    from aspo_repro.results import collect
    from aspo_repro.tables.render import make_context

    published = load_published(published_path)
    results = collect(results_root, spec.profile)
    command = command or f"python -m aspo_repro tables --table {spec.table} --profile {spec.profile}"
    context = make_context(command, results_root, results, warning)
    return RenderingInputs(spec, Path(results_root), results, published, context, seeds)


def build_table_grid(inputs: RenderingInputs) -> Grid:
    """A table's cells, footnotes and (mini) preference-data diagnoses: what every format shows."""
    from aspo_repro.tables.diagnosis import for_rows, load_diagnoses, similarity_rows
    from aspo_repro.tables.grid import build_grid

    grid = build_grid(inputs.spec, inputs.results, inputs.published, audit(inputs.published), inputs.seeds)
    grid.diagnoses = for_rows(load_diagnoses(inputs.results_root, inputs.spec.profile, inputs.spec.models), grid.rows)
    if grid.diagnoses:
        grid.similarities = similarity_rows(grid.rows, inputs.results_root, inputs.spec.profile, inputs.seeds,
                                            grid.diagnoses)
    return grid


def build_figure(inputs: RenderingInputs):
    """A figure spec's matplotlib figure and the Markdown table of its plotted numbers."""
    if isinstance(inputs.spec, SweepSpec):
        from aspo_repro.tables.sweep import sweep_figure

        return sweep_figure(inputs.spec, inputs.results_root, inputs.context, inputs.seeds)
    if isinstance(inputs.spec, BaseQualitySpec):
        from aspo_repro.tables.base_quality import base_quality_figure

        return base_quality_figure(inputs.spec, inputs.results, inputs.results_root, inputs.context, inputs.seeds)
    if isinstance(inputs.spec, WeightQualitySpec):
        from aspo_repro.tables.weight_quality import weight_quality_figure

        return weight_quality_figure(inputs.spec, inputs.results, inputs.results_root, inputs.context, inputs.seeds)
    from aspo_repro.tables.figure import alpha_figure

    return alpha_figure(inputs.spec, inputs.results, inputs.published, inputs.context, inputs.seeds)


__all__ = [
    "AuditFinding",
    "BaseQualitySpec",
    "FigureSpec",
    "RenderingInputs",
    "RowKey",
    "TableSpec",
    "WeightQualitySpec",
    "audit",
    "build_figure",
    "build_table_grid",
    "canonical_table",
    "choices_help",
    "format_audit",
    "known_names",
    "paper_names",
    "requested_names",
    "load_published",
    "load_spec",
    "render_table",
    "rendering_inputs",
    "runs_needed",
    "table_names",
    "tables_on_profiles",
]
