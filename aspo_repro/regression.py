"""Score regression checks against reference *distributions*: what the seeds and machines allow.

The mini models are trained from scratch, so another kind of CPU (other float kernels) gives other
base models and other scores from the same seed (``docs/miniworld.md``, "Same seed, same CPU"). A
reference is therefore not one number per score but a distribution: the reference directory holds
one results root per *world replicate* (``world0/``, ``world1/`` ...: the same world built with its
base models' initial weights perturbed by float-rounding-sized noise, ``WorldSettings.replicate``,
which is what another CPU does to them), each with several training seeds.

Three kinds of quantity are checked, per (model, method, benchmark):

- ``score``: the benchmark score;
- ``Δ base``: the score minus the same world's base model's (the method's effect);
- ``Δ vs M``: the score minus method M's on the same world and seed (``versus:`` in the
  regression file: ASPO against DPO), where a broken loss shows first: ASPO with a normaliser that
  keeps its gradient *is* DPO, so its difference to DPO becomes exactly 0.

For each, the reference's values over its R worlds and S seeds split their spread, as a one-way
analysis of variance does, into a part between worlds (sigma_w^2: what another machine changes) and a
part between seeds (sigma_s^2). The candidate's mean over its m seeds, made on one machine, passes
when it lies within ``t * sqrt(sigma_w^2 (1 + 1/R) + sigma_s^2 (1/m + 1/(R S)))`` of the reference
mean: the band of a new machine's mean, with ``t`` the two-sided quantile at the family-wise level of
the regression file (Bonferroni over every check of one comparison, with the reference's R S - 1
degrees of freedom), never narrower than the benchmark's floor (one flipped answer). The report is a
readable diff.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.files import dataclass_from_mapping, read_yaml_mapping
from aspo_repro.repository import REPO_ROOT
from aspo_repro.results import BASE_METHOD, BENCHMARKS, EvalResult, collect, find_result_files

SETTINGS_FILE = REPO_ROOT / "configs" / "regression.yaml"
WORLD_PREFIX = "world"
SCORE, BASE_DELTA = "score", "Δ base"

Values = dict[tuple[str, str, int], dict[str, float]]  # (model, method, seed) -> {benchmark: value}


@dataclass(frozen=True)
class RegressionFile:
    """``configs/regression.yaml``."""

    confidence: float = 0.95  # family-wise: the chance that an unchanged candidate passes every check
    floor: dict[str, float] = field(default_factory=lambda: {"default": 0.5})  # least band half-width
    versus: dict[str, str] = field(default_factory=dict)  # method -> the method its difference is checked against

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise UserError(f"confidence must lie in (0, 1); got {self.confidence}")
        known = ["default", *(name for names in BENCHMARKS.values() for name in names)]
        for name, value in self.floor.items():
            if name not in known:
                raise UserError(f"unknown benchmark {name!r} under floor; allowed: {', '.join(known)}")
            if value < 0:
                raise UserError(f"the floor of {name} must be a non-negative number of points, got {value}")

    def floor_of(self, benchmark: str) -> float:
        return self.floor.get(benchmark, self.floor.get("default", 0.0))


def load_settings(path: str | Path | None = None) -> RegressionFile:
    path = Path(path or SETTINGS_FILE)
    return dataclass_from_mapping(RegressionFile, read_yaml_mapping(path, "regression file"), f"regression file {path}")


@dataclass(frozen=True)
class Check:
    model: str
    method: str
    benchmark: str
    kind: str  # SCORE, BASE_DELTA or "Δ vs <method>"
    reference: tuple[tuple[float, ...], ...]  # per world of the reference, its values over seeds
    candidate: tuple[float, ...]  # over the candidate's seeds
    band: float  # the half-width the candidate's mean may lie from the reference mean

    @property
    def reference_values(self) -> list[float]:
        return [value for world in self.reference for value in world]

    @property
    def reference_mean(self) -> float:
        return statistics.fmean(self.reference_values)

    @property
    def reference_sd(self) -> float:
        values = self.reference_values
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def candidate_mean(self) -> float | None:
        return statistics.fmean(self.candidate) if self.candidate else None

    @property
    def delta(self) -> float | None:
        mean = self.candidate_mean
        return None if mean is None else mean - self.reference_mean

    @property
    def ok(self) -> bool:
        return self.delta is not None and abs(self.delta) <= self.band


def reference_roots(reference: str | Path) -> list[Path]:
    """The results roots of a reference: its ``world*`` subdirectories, else the directory itself."""
    root = Path(reference)
    worlds = sorted(p for p in root.glob(f"{WORLD_PREFIX}*") if p.is_dir())
    return worlds or [root]


def read_values(root: str | Path, profile: str) -> Values:
    frame = collect(root, profile)
    values: Values = {}
    for row in frame.itertuples(index=False):
        values.setdefault((row.model, row.method, int(row.seed)), {})[row.benchmark] = float(row.value)
    return values


def quantities(values: Values, versus: dict[str, str]) -> dict[tuple[str, str, str, str], list[float]]:
    """Every checked quantity of one world: (model, method, benchmark, kind) -> its values over seeds."""
    found: dict[tuple[str, str, str, str], list[float]] = {}
    base = {model: scores for (model, method, _), scores in values.items() if method == BASE_METHOD}
    for (model, method, seed), scores in sorted(values.items()):
        for benchmark, value in scores.items():
            found.setdefault((model, method, benchmark, SCORE), []).append(value)
            if method == BASE_METHOD:
                continue
            if benchmark in base.get(model, {}):
                found.setdefault((model, method, benchmark, BASE_DELTA), []).append(value - base[model][benchmark])
            other = values.get((model, versus.get(method, ""), seed), {})
            if benchmark in other:
                found.setdefault((model, method, benchmark, f"Δ vs {versus[method]}"), []).append(value - other[benchmark])
    return found


def compare(reference: str | Path, candidate: str | Path, profile: str,
            settings: RegressionFile | None = None) -> list[Check]:
    settings = settings or load_settings()
    worlds = [read_values(root, profile) for root in reference_roots(reference)]
    if not any(worlds):
        raise UserError(f"no reference results for profile {profile!r} under {reference}")
    by_world: dict[tuple[str, str, str, str], list[tuple[float, ...]]] = {}
    for world in worlds:
        for key, values in quantities(world, settings.versus).items():
            by_world.setdefault(key, []).append(tuple(values))
    measured = quantities(read_values(candidate, profile), settings.versus) if Path(candidate).is_dir() else {}
    checks = len(by_world)
    found = []
    for key, reference in sorted(by_world.items()):
        candidate_values = tuple(measured.get(key, ()))
        found.append(Check(*key, tuple(reference), candidate_values,
                           band(reference, len(candidate_values) or 1, settings.confidence, checks,
                                settings.floor_of(key[2]))))
    return found


def band(reference: list[tuple[float, ...]], seeds: int, confidence: float, checks: int, floor: float) -> float:
    """How far a new machine's mean over ``seeds`` seeds may lie from the reference mean (module docstring)."""
    values = [value for world in reference for value in world]
    if len(values) < 2:
        return floor
    from scipy.stats import t

    between, within = variance_components(reference)
    spread = between * (1 + 1 / len(reference)) + within * (1 / seeds + 1 / len(values))
    quantile = float(t.ppf(1 - (1 - confidence) / (2 * checks), len(values) - 1))
    return max(floor, quantile * math.sqrt(spread))


def variance_components(reference: list[tuple[float, ...]]) -> tuple[float, float]:
    """(sigma_w^2, sigma_s^2): the variance between worlds and between seeds within a world (one-way
    ANOVA; sigma_w^2 is 0 when the worlds differ no more than their seeds explain). With one seed per
    world every difference counts as between worlds; with one world, as between seeds."""
    values = [value for world in reference for value in world]
    several = [world for world in reference if len(world) > 1]
    if not several:
        return statistics.variance(values), 0.0
    within = sum(statistics.variance(w) * (len(w) - 1) for w in several) / sum(len(w) - 1 for w in several)
    if len(reference) < 2:
        return 0.0, within
    means = [statistics.fmean(world) for world in reference]
    per_world = len(values) / len(reference)
    return max(0.0, statistics.variance(means) - within / per_world), within


def format_report(checks: Iterable[Check]) -> str:
    checks = list(checks)
    header = (f"{'':2}{'model':<18}{'method':<16}{'benchmark':<22}{'quantity':<12}{'reference':>16}"
              f"{'candidate':>11}{'delta':>8}{'band':>7}")
    lines = [header]
    for c in checks:
        mark = "  " if c.ok else "✗ "
        reference = f"{c.reference_mean:.2f}±{c.reference_sd:.2f} n={len(c.reference_values)}"
        candidate = "missing" if c.candidate_mean is None else f"{c.candidate_mean:.2f}"
        delta = "" if c.delta is None else f"{c.delta:+.2f}"
        lines.append(f"{mark}{c.model:<18}{c.method:<16}{c.benchmark:<22}{c.kind:<12}{reference:>16}"
                     f"{candidate:>11}{delta:>8}{c.band:>7.2f}")
    failures = [c for c in checks if not c.ok]
    lines.append(f"{len(checks) - len(failures)} of {len(checks)} checks within what the reference's worlds and "
                 "seeds allow" + (f"; {len(failures)} outside or missing" if failures else ""))
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


def machine_note(reference: str | Path, candidate: str | Path, profile: str) -> str | None:
    """Which CPUs the reference and the candidate were made on, when they differ (None when not known to)."""
    found = set().union(*(machines(root, profile) for root in reference_roots(reference)))
    theirs = machines(candidate, profile)
    if not found or not theirs or found == theirs:
        return None
    return (f"note: the reference was made on {_describe(found)}, the candidate on {_describe(theirs)}; the bands "
            "allow for what another CPU's float kernels do to the mini models (the reference's world replicates)")


def _describe(machines_found: set[tuple]) -> str:
    return "; ".join(" ".join(machine) for machine in sorted(machines_found))
