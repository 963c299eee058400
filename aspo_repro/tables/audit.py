"""Where the paper disagrees with itself.

Two checks over the published numbers:
- ``avg``: the paper's Avg is the mean of the row's higher-is-better columns (SHR excluded);
  a published Avg further than rounding (0.005) from that mean is reported.
- ``cross_table``: the same model, method and reward level reported with different values
  for the same benchmark in two tables (Table 1 and Table 5 differ on the LLaVA-1.5-7B base row).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

from aspo_repro.results import higher_is_better
from aspo_repro.tables.published import KEY_COLUMNS, RowKey

if TYPE_CHECKING:
    import pandas as pd

# A two-decimal Avg is off by at most half its last digit; the epsilon absorbs float noise.
ROUNDING_TOLERANCE = 0.005 + 1e-9
# The reward level a method has when a table leaves the Level column out.
DEFAULT_LEVELS = {"dpo": "response", "aspo": "sentence", "aspo-s": "sentence", "aspo-p": "sentence"}


@dataclass(frozen=True)
class AuditFinding:
    kind: str  # "avg" or "cross_table"
    row: RowKey
    benchmark: str
    published: float
    expected: float  # the recomputed mean (avg) or the other table's value (cross_table)
    other: RowKey | None = None

    @property
    def difference(self) -> float:
        return self.published - self.expected

    def describe(self) -> str:
        where = f"Table {self.row.table}, {row_label(self.row)}"
        if self.kind == "avg":
            return (
                f"{where}: the published Avg {self.published:.2f} is not the mean of the row's "
                f"higher-is-better columns, {self.expected:.4f} (off by {self.difference:+.4f})"
            )
        other = "" if self.other.model == self.row.model and self.other.method == self.row.method else f" ({row_label(self.other)})"
        return (
            f"{where}: {self.benchmark} is {self.published:g} in Table {self.row.table} but "
            f"{self.expected:g} in Table {self.other.table}{other}"
        )

    def touches(self, table: str) -> bool:
        return self.row.table == table or (self.other is not None and self.other.table == table)


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
        if "avg" not in values:
            continue
        recomputed = recomputed_average(values)
        if recomputed is not None and abs(values["avg"] - recomputed) > ROUNDING_TOLERANCE:
            findings.append(AuditFinding("avg", RowKey(*key), "avg", values["avg"], recomputed))
    return findings


def recomputed_average(values: dict[str, float]) -> float | None:
    """The paper's Avg: mean of the higher-is-better columns present, SHR and Avg excluded."""
    columns = [v for b, v in values.items() if b != "avg" and higher_is_better(b)]
    return sum(columns) / len(columns) if columns else None


def audit_cross_table(published: pd.DataFrame) -> list[AuditFinding]:
    cells = published[published["benchmark"] != "avg"].assign(
        effective_level=lambda f: [
            level or DEFAULT_LEVELS.get(method, "") for method, level in zip(f["method"], f["level"])
        ]
    )
    findings = []
    for (_, _, _, benchmark), group in cells.groupby(
        ["model", "method", "effective_level", "benchmark"], sort=False
    ):
        for (_, first), (_, second) in combinations(group.iterrows(), 2):
            if first["value"] != second["value"]:
                findings.append(AuditFinding(
                    "cross_table", _row_key(first), benchmark, first["value"], second["value"], _row_key(second),
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
