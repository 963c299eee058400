"""Where the paper disagrees with itself.

Two checks over the published numbers:
- ``AverageFinding``: the paper's Avg is the mean of the row's higher-is-better columns (SHR excluded);
  a published Avg further than rounding (0.005) from that mean is reported.
- ``CrossTableFinding``: the same model, method and reward level reported with different values
  for the same benchmark in two tables (Table 1 and Table 5 differ on the LLaVA-1.5-7B base row).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

from aspo_repro.methods import get_method, method_names
from aspo_repro.results import higher_is_better
from aspo_repro.tables.published import AVERAGE, KEY_COLUMNS, RowKey

if TYPE_CHECKING:
    import pandas as pd

# A two-decimal Avg is off by at most half its last digit; the epsilon absorbs float noise.
ROUNDING_TOLERANCE = 0.005 + 1e-9


@dataclass(frozen=True)
class AuditFinding(abc.ABC):
    """A published number that disagrees with what the paper's other numbers imply."""

    row: RowKey
    benchmark: str
    published: float
    expected: float  # what the paper's other numbers imply
    other: RowKey | None = None  # the row of another table that reports the same cell

    @property
    def difference(self) -> float:
        return self.published - self.expected

    @abc.abstractmethod
    def describe(self) -> str:
        """The finding in one line, as ``tables --audit`` prints it."""


@dataclass(frozen=True)
class AverageFinding(AuditFinding):
    """A published Avg that is not the mean of its row's higher-is-better columns."""

    def describe(self) -> str:
        return (
            f"Table {self.row.table}, {row_label(self.row)}: the published Avg {self.published:.2f} is not the "
            f"mean of the row's higher-is-better columns, {self.expected:.4f} (off by {self.difference:+.4f})"
        )


@dataclass(frozen=True)
class CrossTableFinding(AuditFinding):
    """A cell another table reports with another value (``expected``, in ``other``)."""

    def describe(self) -> str:
        same_row = self.other.model == self.row.model and self.other.method == self.row.method
        other = "" if same_row else f" ({row_label(self.other)})"
        return (
            f"Table {self.row.table}, {row_label(self.row)}: {self.benchmark} is {self.published:g} in "
            f"Table {self.row.table} but {self.expected:g} in Table {self.other.table}{other}"
        )


def row_label(row: RowKey) -> str:
    level = f", {row.level} level" if row.level else ""
    return f"{row.model} {row.method}{level}"


def audit(published: pd.DataFrame) -> list[AuditFinding]:
    """Every place the published numbers contradict themselves (averages, then cross-table)."""
    return [*audit_averages(published), *audit_cross_table(published)]


def audit_averages(published: pd.DataFrame) -> list[AuditFinding]:
    findings = []
    for key, rows in published.groupby(list(KEY_COLUMNS[:-1]), sort=False):
        values = dict(zip(rows["benchmark"], rows["value"]))
        if AVERAGE not in values:
            continue
        recomputed = recomputed_average(values)
        if recomputed is not None and abs(values[AVERAGE] - recomputed) > ROUNDING_TOLERANCE:
            findings.append(AverageFinding(RowKey(*key), AVERAGE, values[AVERAGE], recomputed))
    return findings


def recomputed_average(values: dict[str, float]) -> float | None:
    """The paper's Avg: mean of the higher-is-better columns present, SHR and Avg excluded."""
    columns = [v for b, v in values.items() if b != AVERAGE and higher_is_better(b)]
    return sum(columns) / len(columns) if columns else None


def default_level(method: str) -> str:
    """The reward level a method has when a table leaves the Level column out: a method of this
    project's, its granularity; the base model and other papers' methods, none."""
    return get_method(method).granularity if method in method_names() else ""


def audit_cross_table(published: pd.DataFrame) -> list[AuditFinding]:
    cells = published[published["benchmark"] != AVERAGE].assign(
        effective_level=lambda f: [
            level or default_level(method) for method, level in zip(f["method"], f["level"])
        ]
    )
    findings = []
    for (_, _, _, benchmark), group in cells.groupby(
        ["model", "method", "effective_level", "benchmark"], sort=False
    ):
        for (_, first), (_, second) in combinations(group.iterrows(), 2):
            if first["value"] != second["value"]:
                findings.append(CrossTableFinding(
                    _row_key(first), benchmark, first["value"], second["value"], _row_key(second),
                ))
    return findings


def _row_key(record: pd.Series) -> RowKey:
    return RowKey(record["table"], record["model"], record["method"], record["level"])


def format_audit(findings: list[AuditFinding]) -> str:
    if not findings:
        return "The published numbers agree with themselves: every Avg is the mean of its row, within rounding."
    lines = [f"{len(findings)} place(s) where the paper disagrees with itself:"]
    lines += [f"  - {finding.describe()}" for finding in findings]
    return "\n".join(lines)
