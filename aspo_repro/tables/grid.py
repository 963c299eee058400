"""The content of a generated table, before any format: one ``Cell`` per row x column.

A cell holds the reproduced statistic over seeds (mean, sample std, count), the published
number it is compared with and, on the mini profile, the change over the row's own base model
beside the paper's published change over base. Markdown and LaTeX only format these.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aspo_repro.results import BASE_METHOD, RunKey, higher_is_better
from aspo_repro.tables.audit import AuditFinding, recomputed_average
from aspo_repro.tables.published import RowKey, published_row
from aspo_repro.tables.specs import Column, TableRow, TableSpec

if TYPE_CHECKING:
    import pandas as pd

AVG = Column("avg", "avg")
MISSING = "—"


@dataclass(frozen=True)
class Stat:
    """A reproduced value: the mean over seeds, the sample standard deviation, and the count."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, len(values))


@dataclass(frozen=True)
class Cell:
    reproduced: Stat | None
    published: float | None
    decimals: int
    change: float | None = None  # mini: reproduced mean minus the own base model's
    published_change: float | None = None  # mini: the paper's change over its base
    expected_n: int | None = None  # how many seeds were asked for
    footnotes: tuple[int, ...] = ()


@dataclass
class Grid:
    spec: TableSpec
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    cells: dict[tuple[int, int], Cell]
    footnotes: list[str]
    runs_used: list[str] = field(default_factory=list)
    runs_missing: list[str] = field(default_factory=list)


RunScores = dict[tuple[str, str, int], dict[str, float]]


def run_scores(results: pd.DataFrame, seeds: int | None) -> RunScores:
    """{(model, method, seed): {benchmark: value}}, keeping seeds 0..seeds-1 when ``seeds`` is given."""
    scores: RunScores = {}
    for record in results.itertuples(index=False):
        if seeds is None or record.seed < seeds:
            scores.setdefault((record.model, record.method, int(record.seed)), {})[record.benchmark] = record.value
    return scores


def build_grid(
    spec: TableSpec, results: pd.DataFrame, published: pd.DataFrame,
    findings: list[AuditFinding], seeds: int | None = None,
) -> Grid:
    scores = run_scores(results, seeds)
    columns = (*spec.columns, AVG) if spec.average else spec.columns
    notes = FootnoteIndex(findings)
    cells = {}
    for i, row in enumerate(spec.rows):
        for j, column in enumerate(columns):
            cells[i, j] = build_cell(spec, row, column, scores, published, notes, seeds)
    grid = Grid(spec, columns, spec.rows, cells, notes.texts)
    grid.runs_used, grid.runs_missing = run_inventory(spec, scores, seeds)
    return grid


def build_cell(
    spec: TableSpec, row: TableRow, column: Column, scores: RunScores,
    published: pd.DataFrame, notes: FootnoteIndex, seeds: int | None,
) -> Cell:
    paper = published_row(published, row.published).get(column.published) if column.published else None
    decimals = 2 if column.benchmark == "avg" else 1
    reproduced = reproduced_stat(spec, row, column, scores) if row.runnable else None
    markers = notes.markers(row.published, column.published)
    if spec.compare == "published":
        return Cell(reproduced, paper, decimals, expected_n=seeds, footnotes=markers)
    paper_base = published_row(published, row.published_base).get(column.published) if column.published else None
    markers += notes.markers(row.published_base, column.published)
    change = None
    if reproduced is not None and not row.is_base:
        base = reproduced_stat(spec, row, column, scores, method=BASE_METHOD)
        change = None if base is None else reproduced.mean - base.mean
    published_change = None
    if paper is not None and paper_base is not None and row.published != row.published_base:
        published_change = paper - paper_base
    return Cell(
        reproduced, paper, decimals, change, published_change, seeds, tuple(dict.fromkeys(markers)),
    )


def reproduced_stat(
    spec: TableSpec, row: TableRow, column: Column, scores: RunScores, method: str | None = None,
) -> Stat | None:
    method = method or row.method
    per_seed = [values for (model, run_method, _), values in sorted(scores.items())
                if model == row.model and run_method == method]
    if column.benchmark != "avg":
        return Stat.of([values[column.benchmark] for values in per_seed if column.benchmark in values])
    averaged = [higher_is_better_mean(spec, values) for values in per_seed]
    return Stat.of([value for value in averaged if value is not None])


def higher_is_better_mean(spec: TableSpec, values: dict[str, float]) -> float | None:
    """The paper's Avg over this table's columns for one run; None unless every column is there."""
    wanted = [column.benchmark for column in spec.columns if higher_is_better(column.benchmark)]
    if not all(benchmark in values for benchmark in wanted):
        return None
    return recomputed_average({benchmark: values[benchmark] for benchmark in wanted})


def run_inventory(spec: TableSpec, scores: RunScores, seeds: int | None) -> tuple[list[str], list[str]]:
    """Labels of the runs this table read, and of those it needs but found no result for.

    With ``seeds=K`` every row needs seeds 0..K-1; without, a row needs one result of any seed.
    """
    needed = spec.runs_needed(seeds=seeds or 1)
    wanted = {(run.model, run.method) for run in needed}
    used = [RunKey(spec.profile, *key).label() for key in sorted(scores) if key[:2] in wanted]
    if seeds:
        missing = [run for run in needed if (run.model, run.method, run.seed) not in scores]
    else:
        found = {key[:2] for key in scores}
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
