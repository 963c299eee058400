"""Score regression checks: candidate results against committed reference results.

Each reference score (profile, model, method, seed, benchmark) must exist among the candidate's
and lie within its tolerance (points on the 0-100 scale; ``configs/regression.yaml``). The report
is a readable diff: one line per compared score, failures marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aspo_repro.errors import UserError
from aspo_repro.files import dataclass_from_mapping, read_yaml_mapping
from aspo_repro.results import BENCHMARKS, EvalResult, collect, find_result_files

REPO_ROOT = Path(__file__).resolve().parents[1]
TOLERANCES = REPO_ROOT / "configs" / "regression.yaml"
KEY = ["model", "method", "seed", "benchmark"]


@dataclass(frozen=True)
class Comparison:
    model: str
    method: str
    seed: int
    benchmark: str
    reference: float
    candidate: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        return None if self.candidate is None else self.candidate - self.reference

    @property
    def ok(self) -> bool:
        return self.delta is not None and abs(self.delta) <= self.tolerance


@dataclass(frozen=True)
class ToleranceFile:
    """``configs/regression.yaml``: points a score may move, per benchmark, with a default."""

    tolerance: dict[str, float]


def load_tolerances(path: str | Path | None = None) -> dict[str, float]:
    path = Path(path or TOLERANCES)
    where = f"tolerance file {path}"
    parsed = dataclass_from_mapping(ToleranceFile, read_yaml_mapping(path, "tolerance file"), where)
    known = ["default", *(name for names in BENCHMARKS.values() for name in names)]
    for name, value in parsed.tolerance.items():
        if name not in known:
            raise UserError(f"{where}: unknown benchmark {name!r} under tolerance; allowed: {', '.join(known)}")
        if value < 0:
            raise UserError(f"{where}: tolerance of {name} must be a non-negative number of points, got {value}")
    return parsed.tolerance


def compare(reference_root: str | Path, candidate_root: str | Path, profile: str,
            tolerances: dict[str, float] | None = None) -> list[Comparison]:
    tolerances = tolerances if tolerances is not None else load_tolerances()
    reference = collect(reference_root, profile)
    if reference.empty:
        raise UserError(f"no reference results for profile {profile!r} under {reference_root}")
    candidate = collect(candidate_root, profile)
    merged = reference[KEY + ["value"]].merge(
        candidate[KEY + ["value"]] if not candidate.empty else pd.DataFrame(columns=KEY + ["value"]),
        on=KEY, how="left", suffixes=("_reference", "_candidate"),
    )
    default = tolerances.get("default", 0.0)
    return [
        Comparison(
            row.model, row.method, int(row.seed), row.benchmark, float(row.value_reference),
            None if pd.isna(row.value_candidate) else float(row.value_candidate),
            tolerances.get(row.benchmark, default),
        )
        for row in merged.sort_values(KEY).itertuples(index=False)
    ]


def format_report(comparisons: list[Comparison]) -> str:
    header = f"{'':2}{'model':<20}{'method':<22}{'seed':>4}  {'benchmark':<12}{'reference':>10}{'candidate':>10}{'delta':>8}{'tol':>6}"
    lines = [header]
    for c in comparisons:
        mark = "  " if c.ok else "✗ "
        candidate = "missing" if c.candidate is None else f"{c.candidate:.2f}"
        delta = "" if c.delta is None else f"{c.delta:+.2f}"
        lines.append(f"{mark}{c.model:<20}{c.method:<22}{c.seed:>4}  {c.benchmark:<12}"
                     f"{c.reference:>10.2f}{candidate:>10}{delta:>8}{c.tolerance:>6.1f}")
    failures = [c for c in comparisons if not c.ok]
    lines.append(f"{len(comparisons) - len(failures)} of {len(comparisons)} scores within tolerance"
                 + (f"; {len(failures)} moved too far or are missing" if failures else ""))
    return "\n".join(lines)


CPU_FIELDS = ("cpu", "torch_cpu_capability")


def machines(results_root: str | Path, profile: str) -> set[tuple]:
    """The CPUs (model, PyTorch kernel level) the results were made on, where recorded."""
    found = set()
    for path in find_result_files(results_root, profile):
        hardware = EvalResult.load(path).provenance.get("hardware", {})
        if isinstance(hardware, dict) and all(isinstance(hardware.get(f), str) and hardware[f] for f in CPU_FIELDS):
            found.add(tuple(hardware[field] for field in CPU_FIELDS))
    return found


def machine_note(reference_root: str | Path, candidate_root: str | Path, profile: str) -> str | None:
    """A warning when the two sets of results were made on different CPUs (None when not known to differ).

    The mini world's models are trained from scratch, and training turns the last-digit differences
    of the CPU's math kernels (chosen by instruction set) into different weights and scores.
    """
    reference, candidate = machines(reference_root, profile), machines(candidate_root, profile)
    if not reference or not candidate or reference == candidate:
        return None
    return (f"note: the reference was made on {_describe(reference)}, the candidate on {_describe(candidate)}; "
            "trained weights follow the CPU's math kernels, so scores can move beyond the tolerances "
            "without any change of behaviour (docs/miniworld.md, 'Same seed, same CPU')")


def _describe(machines_found: set[tuple]) -> str:
    return "; ".join(" ".join(machine) for machine in sorted(machines_found))
