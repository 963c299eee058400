"""Generated tables: Markdown and LaTeX (booktabs) from a ``Grid``, written atomically.

Cell text, paper profile: ``65.20 ± 0.81 (Δ +1.10 ± 0.62*; +0.04 vs 65.16)``: reproduced value, its
change over the model's base row, its difference to the published value, the published value. With one
seed per run (the paper profile's) every ± is over the benchmark's items only, and the caption says so;
with several seeds: ``65.20 ± 0.77 (n=3; ...)``.
Mini profile: ``71.7 ± 2.7 (n=3; Δ +0.7 ± 2.3; vs DPO -0.9 ± 0.8*; paper Δ -2.8)``: reproduced value,
its change over the row's own base model, its difference to the method the row is set against, the
paper's change over base on the analogous model and benchmark. Every ± is the half-width of a 95%
interval (``aspo_repro.intervals``: seeds and, where results kept them, items); ``*`` marks a
difference whose interval excludes 0. A run without a result is ``—`` (never 0); the published
number stays visible beside it.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aspo_repro import storage
from aspo_repro.intervals import Interval
from aspo_repro.provenance import git_revision
from aspo_repro.tables.diagnosis import diagnosis_latex, diagnosis_markdown
from aspo_repro.tables.grid import MISSING, Cell, Grid
from aspo_repro.tables.specs import TableSpec, plain_label

if TYPE_CHECKING:
    import pandas as pd

SIGNIFICANT = "*"


@dataclass(frozen=True)
class CellText:
    main: str
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What a generated file says about where it came from."""

    command: str
    results_root: str
    fingerprint: str
    generated: str
    git: str
    warning: str = ""  # printed under the heading (the rehearsal: its values mean nothing)
    evaluation: str = ""  # the evaluation protocol and judges the results name (paper profile)

    def warning_lines(self) -> list[str]:
        return [f"**{self.warning}**", ""] if self.warning else []

    def evaluation_lines(self) -> list[str]:
        return [self.evaluation, ""] if self.evaluation else []

    def provenance_line(self, runs_used: int) -> str:
        return (
            f"Provenance: {runs_used} run(s) from {self.results_root} "
            f"(results fingerprint {self.fingerprint}); generated {self.generated}; git {self.git}."
        )


def make_context(command: str, results_root: str | os.PathLike, results: pd.DataFrame, warning: str = "") -> Context:
    files = sorted(set(results["path"])) if len(results) else []
    fingerprint = storage.stable_hash([(os.path.relpath(f, results_root), storage.sha256_file(f)) for f in files])[:12]
    return Context(
        command=command,
        results_root=str(results_root),
        fingerprint=fingerprint if files else "none",
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        git=git_revision() or "unknown",
        warning=warning,
        evaluation=evaluation_text(results),
    )


def evaluation_text(results: pd.DataFrame) -> str:
    """Which evaluation protocol(s) (docs/protocol.md) and judges the results were scored with."""
    from aspo_repro.evaluation.benchmarks import REGISTRY

    def named(column: str) -> list[tuple[str, str]]:
        if column not in results.columns or not len(results):
            return []
        pairs = results[["benchmark", column]].dropna().drop_duplicates()
        return sorted((str(b), str(v)) for b, v in pairs.itertuples(index=False))

    protocols = sorted({value for _, value in named("protocol")})
    judges = [f"{REGISTRY[b].label}: {judge}" for b, judge in named("judge") if b in REGISTRY and REGISTRY[b].needs_api_key]
    parts = [f"Evaluation protocol: {', '.join(protocols)} (docs/protocol.md)."] if protocols else []
    parts += [f"Judged by {'; '.join(judges)}."] if judges else []
    return " ".join(parts)


def number(value: float, decimals: int, signed: bool = False) -> str:
    value = round(value, decimals) + 0.0  # -0.0 + 0.0 is 0.0: no "-0.0" for a tiny negative change
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def markers(cell: Cell) -> str:
    return "".join(f"[{m}]" for m in cell.footnotes)


def cell_text(grid: Grid, row_index: int, column_index: int) -> CellText:
    cell = grid.cells[row_index, column_index]
    row = grid.rows[row_index]
    if not row.runnable:
        return published_only_text(grid.spec, cell)
    main = reproduced_text(cell)
    parts = [seed_count_text(cell)] if seed_count_text(cell) else []
    if grid.spec.compares_with_published:
        parts += [f"Δ {difference_text(cell.change, cell.decimals)}"] if cell.change is not None else []
        parts += published_parts(cell)
    else:
        parts += change_parts(cell, is_base=row.is_base)
    return CellText(main, "; ".join(parts))


def reproduced_text(cell: Cell) -> str:
    if cell.reproduced is None:
        return MISSING
    return interval_text(cell.reproduced, cell.decimals)


def interval_text(interval: Interval, decimals: int, signed: bool = False) -> str:
    """``71.6 ± 1.8``: the mean and the half-width of its 95% interval (just the mean when there is none)."""
    value = number(interval.mean, decimals, signed)
    if interval.sources == "none":
        return value
    return f"{value} ± {number(interval.half_width, decimals)}"


def difference_text(interval: Interval, decimals: int) -> str:
    """A difference with its interval, ``*`` when the interval excludes 0 (significant at 95%)."""
    mark = SIGNIFICANT if interval.sources != "none" and interval.excludes_zero else ""
    return interval_text(interval, decimals, signed=True) + mark


def seed_count_text(cell: Cell) -> str:
    """``n=3``, ``n=2 of 3`` when seeds are missing; nothing for a single seed as asked."""
    if cell.reproduced is None:
        return ""
    n, expected = cell.reproduced.n, cell.expected_n
    if expected and n < expected:
        return f"n={n} of {expected}"
    return f"n={n}" if n > 1 or (expected or 1) > 1 else ""


def published_parts(cell: Cell) -> list[str]:
    if cell.published is None:
        return []
    published = f"{number(cell.published, cell.decimals)}{markers(cell)}"
    if cell.reproduced is None:
        return [f"paper {published}"]
    delta = number(cell.reproduced.mean - cell.published, cell.decimals, signed=True)
    return [f"{delta} vs {published}"]


def change_parts(cell: Cell, *, is_base: bool) -> list[str]:
    d = cell.decimals
    if is_base:
        return [f"paper base {number(cell.published, d)}{markers(cell)}"] if cell.published is not None else []
    parts = []
    if cell.reproduced is not None:
        parts.append(f"Δ {difference_text(cell.change, d)}" if cell.change is not None else "Δ n/a: no base")
        if cell.versus is not None:
            parts.append(f"vs {cell.versus_label} {difference_text(cell.versus, d)}")
    if cell.published_change is not None:
        parts.append(f"paper Δ {number(cell.published_change, d, signed=True)}{markers(cell)}")
    return parts


def published_only_text(spec: TableSpec, cell: Cell) -> CellText:
    d = cell.decimals
    if spec.compares_with_published:
        return CellText(f"{number(cell.published, d)}{markers(cell)}" if cell.published is not None else MISSING)
    if cell.published_change is None:
        return CellText(MISSING)
    return CellText(f"paper Δ {number(cell.published_change, d, signed=True)}{markers(cell)}")


def column_header(grid: Grid, index: int) -> str:
    column = grid.columns[index]
    if grid.spec.compares_with_published or column.published is None or column.is_average:
        return column.label
    return f"{column.label} ≈ {plain_label(column.published)}"


def method_label(grid: Grid, row_index: int) -> str:
    row = grid.rows[row_index]
    return row.label if row.runnable else f"{row.label} (published)".strip()


def heading(grid: Grid) -> str:
    return f"Table {grid.spec.table} ({grid.spec.profile} profile): {grid.spec.title}"


def caption(grid: Grid) -> str:
    spec = grid.spec
    if spec.compares_with_published:
        body = (
            "Each cell: the reproduced value (the mean over n seeds) ± the half-width of its 95% interval, "
            "on a trained row Δ, its change over the model's base row (paired item by item; * marks a change "
            "whose interval excludes 0), its difference to the published value, and the published value, "
            "e.g. 65.20 ± 0.81 (Δ +1.10 ± 0.62*; +0.04 vs 65.16). The interval covers the spread over "
            "training seeds and the benchmark's sampling of its questions (a bootstrap over questions, or "
            f"whole descriptions for SHR), where the results kept them.{items_only_note(grid)} "
            f"{MISSING} marks a run without a result; rows marked (published) are shown with the numbers "
            "their papers published."
        )
    else:
        body = mini_caption(grid)
    tail = (
        " ↓: lower is better. Avg is the mean of the table's higher-is-better scores (SHR and counts excluded), "
        f"as in the paper. [n] refers to a note {notes_about(grid)}."
    )
    return body + tail


def notes_about(grid: Grid) -> str:
    """What the table's notes are about: the paper's disagreements, and rows in another dtype than their base."""
    if not grid.mixed_precision:
        return "where the paper disagrees with itself"
    return "where the paper disagrees with itself or a row was evaluated in another dtype than its base"


def items_only_note(grid: Grid) -> str:
    """The legend of a table with intervals over items only (one seed per run: the paper profile's)."""
    intervals = [i for cell in grid.cells.values() for i in (cell.reproduced, cell.change) if i is not None]
    if not any(interval.sources == "items" for interval in intervals):
        return ""
    return (" ± items only, 1 seed: a cell without n= comes from one training run, so its ± and its Δ's "
            "cover the sampling of the benchmark's questions only, not the spread between training seeds.")


def mini_caption(grid: Grid) -> str:
    spec = grid.spec
    models = ", ".join(f"{m} for {a}" for m, a in spec.analogue_labels.items())
    benchmarks = ", ".join(
        f"{plain_label(c.benchmark)} for {plain_label(c.published)}" for c in spec.columns if c.published
    )
    text = (
        f"The mini world has its own models and benchmarks ({models}; {benchmarks}), so absolute values "
        "are not comparable with the paper's. Each cell shows the reproduced value (the mean over n seeds), Δ, "
        "its change over the row's own base model, vs X, its difference to method X on the same seeds, and paper Δ, the "
        "paper's published change over base for the analogous model and benchmark; base rows show the paper's "
        "base value for reference. ± is the half-width of a 95% interval that covers both the spread over "
        "training seeds and the benchmark's sampling of items (a bootstrap over questions, or over whole "
        "descriptions for mini-SHR; paired, for a difference); * marks a difference whose interval excludes 0. "
        f"{MISSING} marks a run without a result. The paper's Avg change is over the paper's own columns."
    )
    base_tables = {row.published_base.table for row in spec.rows if row.published_base}
    if base_tables - {row.published.table for row in spec.rows if row.published}:
        text += f" This table has no base row in the paper; paper Δ is taken against Table {', '.join(sorted(base_tables))}'s base row."
    return text


def header_comment(grid: Grid, context: Context) -> str:
    return (
        f"Generated by `{context.command}` from the results under {context.results_root} and "
        "baselines/published.csv. Do not edit: regenerate."
    )


def runs_summary(grid: Grid) -> str:
    text = f"Runs: {len(grid.runs_used)} result(s) used"
    if grid.runs_missing:
        return text + f"; {len(grid.runs_missing)} missing: " + ", ".join(grid.runs_missing) + "."
    return text + "; none missing."


def head_columns(grid: Grid) -> list[str]:
    """The columns that name a row: model, method and, in a table of reward levels, the level."""
    return ["Model", "Method", "Level"] if grid.spec.has_levels else ["Model", "Method"]


def table_columns(grid: Grid) -> list[str]:
    return head_columns(grid) + [column_header(grid, j) for j in range(len(grid.columns))]


def row_cells(grid: Grid, i: int, join: Callable[[CellText], str]) -> tuple[list[str], list[str]]:
    """The row's label cells (plain text) and its value cells (joined by the format's ``join``)."""
    row = grid.rows[i]
    head = [row.model_label, method_label(grid, i)] + ([row.level] if grid.spec.has_levels else [])
    return head, [join(cell_text(grid, i, j)) for j in range(len(grid.columns))]


def to_markdown(grid: Grid, context: Context) -> str:
    def join(text: CellText) -> str:
        return f"{text.main} ({text.note})" if text.note else text.main

    header = table_columns(grid)
    n_head = len(head_columns(grid))
    lines = [
        f"<!-- {header_comment(grid, context)} -->",
        f"# {heading(grid)}",
        "",
        *context.warning_lines(),
        caption(grid),
        "",
        *context.evaluation_lines(),
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * n_head + ["---:"] * (len(header) - n_head)) + " |",
    ]
    for i in range(len(grid.rows)):
        head, cells = row_cells(grid, i, join)
        lines.append("| " + " | ".join(md_escape(c) for c in head + cells) + " |")
    lines.append("")
    if grid.footnotes:
        lines += [f"Notes ({notes_about(grid)}):" if grid.mixed_precision else "Notes (the paper disagrees with itself):", ""]
        lines += [f"[{k}] {text}  " for k, text in enumerate(grid.footnotes, 1)]
        lines.append("")
    lines += diagnosis_markdown(grid.diagnoses, grid.similarities)
    lines += [runs_summary(grid), "", context.provenance_line(len(grid.runs_used)), ""]
    return "\n".join(lines)


def md_escape(text: str) -> str:
    return text.replace("|", "\\|")


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "—": "--", "±": r"$\pm$", "Δ": r"$\Delta$", "↓": r"$\downarrow$", "≈": r"$\approx$",
}


def tex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def to_latex(grid: Grid, context: Context) -> str:
    def join(text: CellText) -> str:
        main = tex_escape(text.main)
        return f"{main} {{\\scriptsize ({tex_escape(text.note)})}}" if text.note else main

    header = table_columns(grid)
    n_head = len(head_columns(grid))
    lines = [
        f"% {header_comment(grid, context)}",
        "% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
        f"% {context.provenance_line(len(grid.runs_used))}",
        "\\begin{table*}[t]",
        "\\centering",
        f"\\caption{{{tex_escape(heading(grid) + '. ' + (context.warning + ' ' if context.warning else '') + caption(grid))}}}",
        f"\\label{{tab:{grid.spec.name}-{grid.spec.profile}}}",
        "\\resizebox{\\textwidth}{!}{%",
        f"\\begin{{tabular}}{{{'l' * n_head}{'r' * (len(header) - n_head)}}}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    previous_group = None
    for i, row in enumerate(grid.rows):
        group = (row.model_label, row.runnable)
        if previous_group is not None and group != previous_group:
            lines.append("\\midrule")
        previous_group = group
        head, cells = row_cells(grid, i, join)
        lines.append(" & ".join([tex_escape(h) for h in head] + cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}%", "}"]
    notes = [f"[{k}] {tex_escape(text)}" for k, text in enumerate(grid.footnotes, 1)]
    notes += [tex_escape(text) for text in (context.evaluation,) if text]
    notes += [tex_escape(runs_summary(grid)), tex_escape(context.provenance_line(len(grid.runs_used)))]
    lines += ["\\par\\smallskip{\\footnotesize " + " \\\\\n".join(notes) + "}", "\\end{table*}", ""]
    lines += diagnosis_latex(grid.diagnoses, grid.similarities, tex_escape)
    return "\n".join(lines)


def write_table(grid: Grid, context: Context, out_dir: str | os.PathLike) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        storage.atomic_write_text(out_dir / f"{grid.spec.name}.md", to_markdown(grid, context)),
        storage.atomic_write_text(out_dir / f"{grid.spec.name}.tex", to_latex(grid, context)),
    ]
