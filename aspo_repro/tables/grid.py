"""The content of a generated table, before any format: one ``Cell`` per row x column.

A cell holds the reproduced mean over seeds with its 95% interval (``aspo_repro.intervals``: the
seed spread and, where the results kept their items, the item bootstrap), the published number it
is compared with, the change over the row's own base model with its interval (paired item by item)
and, on the mini profile, the change over the method it is set against (``versus``) and the paper's
published change. Markdown and LaTeX only format these.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from aspo_repro.evaluation.benchmarks import get_benchmark
from aspo_repro.intervals import Interval, average_draws, difference, estimate, resampled_values
from aspo_repro.results import BASE_METHOD, RunKey, in_average
from aspo_repro.tables.audit import AuditFinding
from aspo_repro.tables.published import AVERAGE, RowKey, published_row
from aspo_repro.tables.specs import Column, TableRow, TableSpec

if TYPE_CHECKING:
    import pandas as pd

AVG = Column(AVERAGE, AVERAGE)
MISSING = "—"


@dataclass(frozen=True)
class Cell:
    reproduced: Interval | None
    published: float | None
    decimals: int
    change: Interval | None = None  # the change over the own base model (paper: where it was run)
    published_change: float | None = None  # mini: the paper's change over its base
    expected_n: int | None = None  # how many seeds were asked for
    footnotes: tuple[int, ...] = ()
    versus: Interval | None = None  # mini: the change over the row's ``versus`` method
    versus_label: str = ""


@dataclass
class Grid:
    spec: TableSpec
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    cells: dict[tuple[int, int], Cell]
    footnotes: list[str]
    runs_used: list[str] = field(default_factory=list)
    runs_missing: list[str] = field(default_factory=list)
    diagnoses: dict[str, dict] = field(default_factory=dict)  # mini: each model's preference data, measured
    similarities: list[list[str]] = field(default_factory=list)  # mini: each similarity row's scorer and its AUC
    mixed_precision: bool = False  # a row was evaluated in another dtype than its base (footnoted)


@dataclass
class RunScore:
    """One benchmark score of one run, with the items it can be resampled on (None: not kept)."""

    value: float
    scale: float  # the benchmark's: its tasks' metric x scale = the score
    items: dict | None = None

    @cached_property
    def draws(self) -> np.ndarray | None:
        """The score on each of the item bootstrap's resamples (``intervals.resampled_values``)."""
        if not self.items:
            return None
        return resampled_values({task: np.asarray(pairs) for task, pairs in self.items.items()}, self.scale)


class RunScores:
    """{(model, method, seed): {benchmark: RunScore}}, and the per-seed values a cell reads."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str, int], dict[str, RunScore]] = {}

    def add(self, model: str, method: str, seed: int, benchmark: str, value: float, items: dict | None) -> None:
        score = RunScore(float(value), get_benchmark(benchmark).scale, items if isinstance(items, dict) else None)
        self.runs.setdefault((model, method, int(seed)), {})[benchmark] = score

    def keys(self) -> list[tuple[str, str, int]]:
        return sorted(self.runs)

    def seeds(self, model: str, method: str) -> list[tuple[int, dict[str, RunScore]]]:
        return [(seed, scores) for (m, method_, seed), scores in sorted(self.runs.items())
                if m == model and method_ == method]

    def per_seed(self, model: str, method: str, column: Column,
                 spec: TableSpec | None = None) -> tuple[list[float], list[np.ndarray | None], list[int]]:
        """The column's value on each seed of (model, method), each seed's resampled values and the
        seed ids; the Avg column is the mean of the table's in-average columns, on seeds that have them all."""
        values, draws, seed_ids = [], [], []
        for seed, scores in self.seeds(model, method):
            if not column.is_average:
                if column.benchmark in scores:
                    values.append(scores[column.benchmark].value)
                    draws.append(scores[column.benchmark].draws)
                    seed_ids.append(seed)
                continue
            wanted = [c.benchmark for c in spec.columns if in_average(c.benchmark)]
            if wanted and all(b in scores for b in wanted):
                values.append(float(np.mean([scores[b].value for b in wanted])))
                draws.append(average_draws([scores[b].draws for b in wanted]))
                seed_ids.append(seed)
        return values, draws, seed_ids


def run_scores(results: pd.DataFrame, seeds: int | None) -> RunScores:
    """Every score of ``results``, keeping seeds 0..seeds-1 when ``seeds`` is given."""
    scores = RunScores()
    items = results["items"] if "items" in results.columns else [None] * len(results)
    for record, kept in zip(results.itertuples(index=False), items):
        if seeds is None or record.seed < seeds:
            scores.add(record.model, record.method, record.seed, record.benchmark, record.value, kept)
    return scores


def build_grid(
    spec: TableSpec, results: pd.DataFrame, published: pd.DataFrame,
    findings: list[AuditFinding], seeds: int | None = None,
) -> Grid:
    scores = run_scores(results, seeds)
    columns = (*spec.columns, AVG) if spec.file.average else spec.columns
    notes = FootnoteIndex(findings)
    cells = {}
    for i, row in enumerate(spec.rows):
        for j, column in enumerate(columns):
            cells[i, j] = build_cell(spec, row, column, scores, published, notes, seeds)
    grid = Grid(spec, columns, spec.rows, cells, notes.texts)
    grid.runs_used, grid.runs_missing = run_inventory(spec, scores, seeds)
    mark_mixed_precision(grid, results, seeds)
    return grid


def mark_mixed_precision(grid: Grid, results: pd.DataFrame, seeds: int | None = None) -> None:
    """Footnote each trained row evaluated in another dtype (eval.json's provenance) than its base
    or ``versus`` row: the difference between them is then precision as well as training."""
    if "dtype" not in results.columns:
        return
    kept = results if seeds is None else results[results["seed"] < seeds]
    dtypes = {key: set(group.dropna()) for key, group in kept.groupby(["model", "method"])["dtype"]}
    for i, row in enumerate(grid.rows):
        if not row.runnable or row.is_base:
            continue
        compared_with = [BASE_METHOD, *([row.versus] if row.versus else [])]
        ran_in = {method: dtypes.get((row.model, method), set()) for method in (row.method, *compared_with)}
        if len(set().union(*ran_in.values())) < 2:
            continue
        grid.footnotes.append(f"{row.model_label} {row.label}: evaluated in " + "; ".join(
            f"{method} {'/'.join(sorted(found)) or 'unrecorded'}" for method, found in ran_in.items()
        ) + ", so its changes mix precision with training")
        marker, grid.mixed_precision = len(grid.footnotes), True
        for j in range(len(grid.columns)):
            if grid.cells[i, j].reproduced is not None:
                grid.cells[i, j] = replace(grid.cells[i, j], footnotes=(*grid.cells[i, j].footnotes, marker))


def build_cell(
    spec: TableSpec, row: TableRow, column: Column, scores: RunScores,
    published: pd.DataFrame, notes: FootnoteIndex, seeds: int | None,
) -> Cell:
    paper = published_row(published, row.published).get(column.published) if column.published and row.published else None
    decimals = 2 if column.is_average else 1
    values, draws, seed_ids = scores.per_seed(row.model, row.method, column, spec) if row.runnable else ([], [], [])
    reproduced = estimate(values, draws) if values else None
    expected = None if row.is_base else seeds  # the base model is evaluated once, whatever the seeds
    markers = notes.markers(row.published, column.published)
    if spec.compares_with_published:
        change = None
        if reproduced is not None and not row.is_base:
            change = compared(scores, row.model, BASE_METHOD, column, spec, values, draws, seed_ids)
        return Cell(reproduced, paper, decimals, change, expected_n=expected, footnotes=markers)
    paper_base = published_row(published, row.published_base).get(column.published) if column.published else None
    markers += notes.markers(row.published_base, column.published)
    change = versus = None
    if reproduced is not None and not row.is_base:
        change = compared(scores, row.model, BASE_METHOD, column, spec, values, draws, seed_ids)
        if row.versus:
            versus = compared(scores, row.model, row.versus, column, spec, values, draws, seed_ids)
    published_change = None
    if paper is not None and paper_base is not None and row.published != row.published_base:
        published_change = paper - paper_base
    return Cell(
        reproduced, paper, decimals, change, published_change, expected, tuple(dict.fromkeys(markers)),
        versus, row.versus_label,
    )


def compared(scores: RunScores, model: str, method: str, column: Column, spec: TableSpec,
             values: list[float], draws: list, seed_ids: list[int]) -> Interval | None:
    """The row's values minus those of ``method`` on the same model, with the difference's interval
    (seeds paired by id)."""
    other_values, other_draws, other_seeds = scores.per_seed(model, method, column, spec)
    if not other_values:
        return None
    return difference(values, other_values, draws, other_draws, seed_ids, other_seeds)


def run_inventory(spec: TableSpec, scores: RunScores, seeds: int | None) -> tuple[list[str], list[str]]:
    """Labels of the runs this table read, and of those it needs but found no result for.

    With ``seeds=K`` every row needs seeds 0..K-1; without, a row needs one result of any seed.
    """
    needed = spec.runs_needed(seeds=seeds or 1)
    wanted = {(run.model, run.method) for run in needed}
    used = [RunKey(spec.profile, *key).label() for key in scores.keys() if key[:2] in wanted]
    present = set(scores.keys())
    if seeds:
        missing = [run for run in needed if (run.model, run.method, run.seed) not in present]
    else:
        found = {key[:2] for key in present}
        missing = [run for run in needed if (run.model, run.method) not in found]
    return used, [run.label() for run in missing]


class FootnoteIndex:
    """Numbers the audit findings in the order the table first cites them."""

    def __init__(self, findings: list[AuditFinding]):
        self.findings = findings
        self.texts: list[str] = []

    def markers(self, row: RowKey | None, benchmark: str | None) -> tuple[int, ...]:
        if row is None or benchmark is None:
            return ()
        markers = []
        for finding in self.findings:
            if finding.benchmark == benchmark and row in (finding.row, finding.other):
                text = finding.describe()
                if text not in self.texts:
                    self.texts.append(text)
                markers.append(self.texts.index(text) + 1)
        return tuple(markers)
