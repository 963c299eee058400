"""The report's tables and figures: the Markdown tables' own rendering data (``tables.build_table_grid``,
``render.cell_text``), with each cell classed by the sign and significance of its differences."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from aspo_repro.report.sources import Sources


@dataclass(frozen=True)
class CellView:
    main: str
    note: str
    classes: str  # the change over base and over the row's ``versus`` method: better/worse, significant or not
    title: str  # what a hover shows: the published value and the difference to it, in words


@dataclass(frozen=True)
class RowView:
    head: list[str]
    cells: list[CellView]
    runs: list[str]  # the run labels (profile/model/method/seedK) the row's numbers come from


@dataclass
class TableView:
    name: str
    heading: str
    caption: str
    evaluation: str
    columns: list[str]
    head_count: int
    rows: list[RowView]
    footnotes_title: str
    footnotes: list[str]
    diagnosis_intro: str = ""
    diagnosis_header: list[str] = field(default_factory=list)
    diagnosis_rows: list[list[str]] = field(default_factory=list)
    runs_summary: str = ""
    provenance: str = ""


@dataclass(frozen=True)
class FigureView:
    name: str
    title: str
    svg_file: str  # relative to the site
    svg: bytes
    markdown: str  # the figure's table of plotted numbers, as the Markdown file has it
    provenance: str


def collect_tables(sources: Sources) -> tuple[list[TableView], list[FigureView], dict[str, str]]:
    """Every table and figure spec that has a section for the profile; the results' eval.json per run label."""
    from aspo_repro.errors import UserError
    from aspo_repro.tables import (
        build_figure,
        build_table_grid,
        known_names,
        load_spec,
        rendering_inputs,
    )
    from aspo_repro.tables.specs import TableSpec

    tables, figures, run_paths = [], [], {}
    for name in known_names():
        try:
            spec = load_spec(name, sources.results_profile)
        except UserError:
            continue  # a figure made for another profile only (the mini models' learning-rate sweep)
        command = f"python -m aspo_repro tables --table {spec.table} --profile {sources.results_profile}"
        inputs = rendering_inputs(spec, sources.results_root, command=command, warning=sources.warning)
        run_paths.update(result_files(inputs.results))
        if isinstance(spec, TableSpec):
            tables.append(table_view(build_table_grid(inputs), inputs))
        else:
            figures.append(figure_view(spec, *build_figure(inputs), inputs.context))
    return tables, figures, run_paths


def result_files(results) -> dict[str, str]:
    from aspo_repro.results import RunKey

    found = results[["profile", "model", "method", "seed", "path"]].drop_duplicates()
    return {RunKey(p, m, k, int(s)).label(): str(path) for p, m, k, s, path in found.itertuples(index=False)}


def table_view(grid, inputs) -> TableView:
    from aspo_repro.tables import render
    from aspo_repro.tables.diagnosis import INTRO, diagnosis_rows

    rows = []
    for i, row in enumerate(grid.rows):
        head, _ = render.row_cells(grid, i, lambda text: text.main)
        cells = [cell_view(grid, i, j) for j in range(len(grid.columns))]
        rows.append(RowView(head, cells, row_runs(inputs.results, row)))
    header, diagnosed = diagnosis_rows(grid.diagnoses) if grid.diagnoses else ([], [])
    notes_title = f"Notes ({render.notes_about(grid)}):" if grid.mixed_precision else "Notes (the paper disagrees with itself):"
    return TableView(
        name=grid.spec.name, heading=render.heading(grid), caption=render.caption(grid),
        evaluation=inputs.context.evaluation, columns=render.table_columns(grid),
        head_count=len(render.head_columns(grid)), rows=rows, footnotes_title=notes_title,
        footnotes=list(grid.footnotes), diagnosis_intro=INTRO if grid.diagnoses else "",
        diagnosis_header=header, diagnosis_rows=diagnosed, runs_summary=render.runs_summary(grid),
        provenance=inputs.context.provenance_line(len(grid.runs_used)),
    )


def row_runs(results, row) -> list[str]:
    from aspo_repro.results import RunKey

    if not row.runnable or not len(results):
        return []
    mine = results[(results["model"] == row.model) & (results["method"] == row.method)]
    return sorted({RunKey(p, row.model, row.method, int(s)).label() for p, s in zip(mine["profile"], mine["seed"])})


def cell_view(grid, i: int, j: int) -> CellView:
    from aspo_repro.tables.render import cell_text

    text = cell_text(grid, i, j)
    cell, column = grid.cells[i, j], grid.columns[j]
    higher = higher_is_better(column)
    classes = [f"base-{c}" for c in [difference_class(cell.change, higher)] if c]
    classes += [f"vs-{c}" for c in [difference_class(cell.versus, higher)] if c]
    return CellView(text.main, text.note, " ".join(classes), hover_text(grid, cell))


def higher_is_better(column) -> bool:
    from aspo_repro.evaluation.benchmarks import get_benchmark

    return True if column.is_average else get_benchmark(column.benchmark).higher_is_better


def difference_class(interval, higher: bool) -> str:
    """better/worse (for the column's direction), ``-sig`` when its 95% interval excludes 0."""
    if interval is None or interval.mean == 0:
        return ""
    better = (interval.mean > 0) == higher
    significant = interval.sources != "none" and interval.excludes_zero
    return ("better" if better else "worse") + ("-sig" if significant else "")


def hover_text(grid, cell) -> str:
    from aspo_repro.tables.render import number

    d, parts = cell.decimals, []
    if cell.published is not None:
        parts.append(f"published {number(cell.published, d)}")
        if cell.reproduced is not None and grid.spec.compares_with_published:
            parts.append(f"reproduced − published {number(cell.reproduced.mean - cell.published, d, signed=True)}")
    if cell.published_change is not None:
        parts.append(f"paper's change over its base {number(cell.published_change, d, signed=True)}")
    if cell.change is not None:
        parts.append(f"change over base {number(cell.change.mean, d, signed=True)} "
                     f"[{number(cell.change.low, d)}, {number(cell.change.high, d)}]")
    if cell.versus is not None:
        parts.append(f"vs {cell.versus_label} {number(cell.versus.mean, d, signed=True)} "
                     f"[{number(cell.versus.low, d)}, {number(cell.versus.high, d)}]")
    parts += [f"note [{k}]: {grid.footnotes[k - 1]}" for k in cell.footnotes]
    return "; ".join(parts) or "no published value"


def figure_view(spec, figure, markdown: str, context) -> FigureView:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": context.command})
    plt.close(figure)
    provenance = [line for line in markdown.splitlines() if line.startswith("Provenance:")]
    return FigureView(spec.name, spec.title, f"figures/{spec.name}.svg", buffer.getvalue(), markdown,
                      provenance[-1] if provenance else "")
