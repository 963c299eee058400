"""Score regression checks against reference *distributions*: what the seeds and machines allow.

The mini models are trained from scratch, so another kind of CPU (other float kernels) gives other
base models and other scores from the same seed (``docs/miniworld.md``, "Same seed, same CPU"). A
reference is therefore not one number per score but a distribution: the reference directory holds
one results root per *world replicate* (``world1/``, ``world2/`` ...: the same world built with its
base models' initial weights perturbed by float-rounding-sized noise, ``WorldSettings.replicate``,
which is what another CPU does to them), each with several training seeds, and ``world0/``, the world
this machine kind builds, which CI's candidate shares (its seeds 0-2 against world 0's others;
docs/regression.md). Another machine kind adds its own ``world0-KIND/``.

Checked quantities, per (model, method, benchmark):

- ``score``: the benchmark score;
- ``Δ base``: the score minus the same world's base model's (the method's effect);
- ``Δ vs M``: the score minus method M's on the same world and the same seed id, on the same items.

**Same world first.** World replicates differ far more than their seeds (docs/regression.md: fresh
replicates 8-10 moved every primary check by several seed deviations), so a band that must cover a
new world is too wide to guard anything. A world is recognised by its base model's answers: when the
candidate's base model scores every benchmark item as one reference world's does (its *signature*),
the candidate was made on the machine kind that made that world, and each check compares it with
that world's own seeds (the candidate's seed ids left out, so a run is never in its own reference),
with the seed spread pooled over every reference world: ``MSW (1/m + 1/n_w)`` on MSW's degrees of
freedom. Otherwise (another CPU, or a change to the base models or to how they are evaluated)
``regress`` fails, naming the command that makes this machine kind's own world 0 beside the others
(one reference per machine kind: docs/regression.md says why); ``regress --across-worlds`` makes the
cross-world check below instead, which is reported as what it is: it does not keep the declared rate.

The **primary** checks (``primary:`` in configs/regression.yaml, declared before any fault was
injected) decide: ASPO's variants and the oracle against DPO, and DPO against its base model, in
the quantities where ASPO's mechanism shows. Every other quantity is a **secondary** check,
reported, never failing.

A check's band: the reference's values over its R worlds split, as a one-way analysis of variance
does, into mean squares between worlds (MSB, R - 1 degrees of freedom) and within them (MSW,
N - R). The candidate's mean over m seeds, from a world of its own, differs from the reference mean by
``sigma_w^2 (1 + sum n_i^2 / N^2) + sigma_s^2 (1/m + 1/N)`` in variance, which is ``a MSB + b MSW``
with the ANOVA's estimates of the two components; its degrees of freedom are Satterthwaite's (so a
reference of few worlds gives a wide band, as it must). Where the worlds lie closer together than
their seeds allow (MSB < MSW, a negative estimate of sigma_w^2), the variance is never taken below
the seeds' own, ``MSW (1/m + 1/N)``, with the seeds' degrees of freedom. The band is ``t * sqrt(a MSB + b MSW)``,
``t`` the two-sided quantile at the false-alarm rate of the family split over its checks (Bonferroni),
never narrower than the benchmark's floor (one flipped answer). The minimum detectable effect
(``mde``) is the shift of the candidate's mean that a check catches with the declared power.
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
from aspo_repro.storage import stable_hash

SETTINGS_FILE = REPO_ROOT / "configs" / "regression.yaml"
WORLD_PREFIX = "world"
SCORE, BASE_DELTA = "score", "Δ base"
NO_VERSUS = "none"  # a primary check of the method's own score, against nothing

Key = tuple[str, str, str, str]  # (model, method, benchmark, kind)
Values = dict[tuple[str, str, int], dict[str, "Scored"]]  # (model, method, seed) -> {benchmark: score}


@dataclass(frozen=True)
class Scored:
    """One benchmark score of one run, with the item count per task (what pairs it with another run's)."""

    value: float
    items: tuple[tuple[str, int], ...] = ()
    path: str = ""  # the eval.json it was read from


@dataclass(frozen=True)
class PrimaryCheck:
    """``method`` against ``versus`` (a method, ``base``, or ``none``: its own score) on ``benchmarks``: the
    quantities that decide."""

    method: str
    versus: str
    benchmarks: tuple[str, ...]

    @property
    def kind(self) -> str:
        if self.versus == NO_VERSUS:
            return SCORE
        return BASE_DELTA if self.versus == BASE_METHOD else versus_kind(self.versus)


def versus_kind(method: str) -> str:
    return f"Δ vs {method}"


@dataclass(frozen=True)
class RegressionFile:
    """``configs/regression.yaml``."""

    false_alarm_rate: float = 0.05  # the chance that an unchanged candidate fails a primary check
    power: float = 0.8  # at which the minimum detectable effect is reported
    primary: tuple[PrimaryCheck, ...] = ()
    floor: dict[str, float] = field(default_factory=lambda: {"default": 0.5})  # least band half-width
    secondary_rate: float = 0.05  # per secondary check, for its (reported) band

    def __post_init__(self) -> None:
        for name in ("false_alarm_rate", "power", "secondary_rate"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"{name} must lie in (0, 1); got {getattr(self, name)}")
        known = ["default", *(name for names in BENCHMARKS.values() for name in names)]
        for name, value in self.floor.items():
            if name not in known:
                raise UserError(f"unknown benchmark {name!r} under floor; allowed: {', '.join(known)}")
            if value < 0:
                raise UserError(f"the floor of {name} must be a non-negative number of points, got {value}")
        object.__setattr__(self, "primary", tuple(_primary(entry) for entry in self.primary))
        for check in self.primary:
            unknown = [b for b in check.benchmarks if b not in known]
            if unknown:
                raise UserError(f"unknown benchmark {unknown[0]!r} in the primary check of {check.method}")

    def floor_of(self, benchmark: str) -> float:
        return self.floor.get(benchmark, self.floor.get("default", 0.0))

    @property
    def versus(self) -> dict[str, str]:
        """method -> the method its difference is taken against (the primary checks' pairs)."""
        return {c.method: c.versus for c in self.primary if c.versus not in (BASE_METHOD, NO_VERSUS)}

    def primary_keys(self, models: Iterable[str]) -> set[Key]:
        return {(model, c.method, benchmark, c.kind) for model in models for c in self.primary
                for benchmark in c.benchmarks}


def _primary(entry) -> PrimaryCheck:
    if isinstance(entry, PrimaryCheck):
        return entry
    if not isinstance(entry, dict):
        raise UserError(f"a primary check is a mapping of method, versus and benchmarks; got {entry!r}")
    check = dataclass_from_mapping(PrimaryCheck, entry, "primary check")
    return PrimaryCheck(check.method, check.versus, tuple(check.benchmarks))


def load_settings(path: str | Path | None = None) -> RegressionFile:
    path = Path(path or SETTINGS_FILE)
    return dataclass_from_mapping(RegressionFile, read_yaml_mapping(path, "regression file"), f"regression file {path}")


@dataclass(frozen=True)
class Spread:
    """The reference's one-way analysis of variance over its worlds, for a candidate of ``seeds`` seeds."""

    variance: float  # of the candidate's mean minus the reference mean
    df: float  # Satterthwaite's degrees of freedom of that variance

    def quantile(self, two_sided_rate: float) -> float:
        from scipy.stats import norm, t

        upper = 1 - two_sided_rate / 2
        return float(t.ppf(upper, self.df)) if math.isfinite(self.df) else float(norm.ppf(upper))


def spread(reference: list[tuple[float, ...]], seeds: int) -> Spread | None:
    """How a new world's mean over ``seeds`` seeds varies around the reference mean (module docstring);
    None when the reference has a single value."""
    worlds = [w for w in reference if w]
    sizes = [len(w) for w in worlds]
    total, count = sum(sizes), len(worlds)
    if total < 2:
        return None
    grand = statistics.fmean(v for w in worlds for v in w)
    within_df = total - count
    msw = sum((v - statistics.fmean(w)) ** 2 for w in worlds for v in w) / within_df if within_df else None
    if count < 2:  # one world: no machine-to-machine variation to measure; seeds only
        return Spread(msw * (1 / seeds + 1 / total), within_df)
    msb = sum(n * (statistics.fmean(w) - grand) ** 2 for n, w in zip(sizes, worlds)) / (count - 1)
    if msw is None:  # one seed per world: every difference is between worlds
        return Spread(msb * (1 + 1 / count), count - 1)
    n0 = (total - sum(n * n for n in sizes) / total) / (count - 1)
    a = (1 + sum(n * n for n in sizes) / total**2) / n0
    b = max(0.0, 1 / seeds + 1 / total - a)  # below 0 only when the candidate has more seeds than a world
    terms = ((a * msb, count - 1), (b * msw, within_df))
    variance = sum(term for term, _ in terms)
    seeds_only = msw * (1 / seeds + 1 / total)
    if variance == 0:
        return Spread(0.0, math.inf)
    if variance < seeds_only:  # worlds closer than their seeds allow (MSB < MSW): sigma_w^2 is not negative
        return Spread(seeds_only, within_df)
    return Spread(variance, variance**2 / sum(term**2 / df for term, df in terms if term))


def same_world_spread(reference: list[tuple[float, ...]], world: int, seeds: int) -> Spread | None:
    """How the candidate's mean over ``seeds`` seeds varies around reference world ``world``'s mean when
    both come from that world: seeds only, their variance pooled over every reference world."""
    own = reference[world] if world < len(reference) else ()
    spreads = [w for w in reference if len(w) > 1]
    within_df = sum(len(w) - 1 for w in spreads)
    if not own or not within_df:
        return None
    msw = sum((v - statistics.fmean(w)) ** 2 for w in spreads for v in w) / within_df
    return Spread(msw * (1 / seeds + 1 / len(own)), within_df)


@dataclass(frozen=True)
class Check:
    model: str
    method: str
    benchmark: str
    kind: str  # SCORE, BASE_DELTA or "Δ vs <method>"
    reference: tuple[tuple[float, ...], ...]  # per world of the reference, its values over seeds
    candidate: tuple[float, ...]  # over the candidate's seeds
    band: float  # the half-width the candidate's mean may lie from the reference mean
    mde: float  # the least shift of the candidate's mean caught with the settings' power
    primary: bool

    same_world: int | None = None  # the index of the reference world it is compared within; None: across worlds

    @property
    def reference_values(self) -> list[float]:
        if self.same_world is not None:
            return list(self.reference[self.same_world])
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


@dataclass(frozen=True)
class Comparison:
    checks: list[Check]
    same_world: str | None = None  # the reference world whose signature the candidate's base model has

    @property
    def primary(self) -> list[Check]:
        return [c for c in self.checks if c.primary]

    @property
    def secondary(self) -> list[Check]:
        return [c for c in self.checks if not c.primary]

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.primary)


def reference_roots(reference: str | Path) -> list[Path]:
    """The results roots of a reference: its ``world*`` subdirectories, else the directory itself."""
    root = Path(reference)
    worlds = sorted(p for p in root.glob(f"{WORLD_PREFIX}*") if p.is_dir())
    return worlds or [root]


def read_values(root: str | Path, profile: str, seeds: frozenset[int] | None = None) -> Values:
    """Every score under ``root`` (only runs of ``seeds`` when given; a base model is kept whatever its seed)."""
    frame = collect(root, profile)
    values: Values = {}
    items = frame["items"] if "items" in frame.columns else [None] * len(frame)
    for row, kept in zip(frame.itertuples(index=False), items):
        if seeds is not None and row.method != BASE_METHOD and int(row.seed) not in seeds:
            continue
        counts = tuple(sorted((task, len(pairs)) for task, pairs in kept.items())) if isinstance(kept, dict) else ()
        values.setdefault((row.model, row.method, int(row.seed)), {})[row.benchmark] = Scored(
            float(row.value), counts, str(getattr(row, "path", "")))
    return values


def world_signatures(root: str | Path, profile: str) -> dict[str, str]:
    """model -> a hash of its base model's every benchmark item score under ``root``: equal on the
    same world made on the same kind of machine, different on any other world."""
    found: dict[str, dict[str, object]] = {}
    for path in find_result_files(root, profile, method=BASE_METHOD):
        result = EvalResult.load(path)
        if result.run.method == BASE_METHOD:
            found.setdefault(result.run.model, {}).update(
                {name: [score.value, score.items] for name, score in result.scores.items()})
    return {model: stable_hash(scores) for model, scores in found.items()}


def matching_world(roots: list[Path], candidate: str | Path, profile: str) -> int | None:
    """The index of the reference world whose base models answer exactly as the candidate's, if any."""
    theirs = world_signatures(candidate, profile) if Path(candidate).is_dir() else {}
    if not theirs:
        return None
    matches = [i for i, root in enumerate(roots)
               if (ours := world_signatures(root, profile)) and all(ours.get(m) == s for m, s in theirs.items())]
    return matches[0] if len(matches) == 1 else None


def paired(a: Scored, b: Scored, what: str) -> float:
    """``a - b``, refused when the two runs were scored on different items."""
    if a.items and b.items and a.items != b.items:
        raise UserError(f"{a.path} and {b.path} ({what}): the two runs were scored on different items "
                        f"({dict(a.items)} against {dict(b.items)}): a difference needs the same benchmark limit")
    return a.value - b.value


def quantities(values: Values, versus: dict[str, str]) -> dict[Key, list[float]]:
    """Every checked quantity of one world: (model, method, benchmark, kind) -> its values over seeds.
    Differences pair runs by seed id (``versus``: the other method's run of the same seed) and by item."""
    found: dict[Key, list[float]] = {}
    base = {model: scores for (model, method, _), scores in values.items() if method == BASE_METHOD}
    for (model, method, seed), scores in sorted(values.items()):
        for benchmark, scored in scores.items():
            found.setdefault((model, method, benchmark, SCORE), []).append(scored.value)
            if method == BASE_METHOD:
                continue
            label = f"{model} {method} seed {seed} {benchmark}"
            if benchmark in base.get(model, {}):
                found.setdefault((model, method, benchmark, BASE_DELTA), []).append(
                    paired(scored, base[model][benchmark], f"{label} against base"))
            other = values.get((model, versus.get(method, ""), seed), {})
            if benchmark in other:
                found.setdefault((model, method, benchmark, versus_kind(versus[method])), []).append(
                    paired(scored, other[benchmark], f"{label} against {versus[method]}"))
    return found


def compare(reference: str | Path, candidate: str | Path, profile: str,
            settings: RegressionFile | None = None, seeds: set[int] | None = None,
            reference_worlds: list[Path] | None = None) -> Comparison:
    """The candidate's checks against the reference (``reference_worlds``: these results roots instead
    of ``reference``'s world directories; ``seeds``: only these seeds of the candidate)."""
    settings = settings or load_settings()
    roots = reference_worlds or reference_roots(reference)
    candidate_values = read_values(candidate, profile, frozenset(seeds) if seeds else None) \
        if Path(candidate).is_dir() else {}
    worlds = [read_values(root, profile) for root in roots]
    same = matching_world(roots, candidate, profile)
    if same is not None:
        own = _without_seeds_of(worlds[same], candidate_values)
        if any(method != BASE_METHOD for (_, method, _) in own):
            worlds[same] = own
        else:
            same = None  # the candidate's own world holds no seed of its own to compare with
    if not any(worlds):
        raise UserError(f"no reference results for profile {profile!r} under {reference}")
    by_world: dict[Key, list[tuple[float, ...]]] = {}
    for index, world in enumerate(worlds):
        for key, values in quantities(world, settings.versus).items():
            by_world.setdefault(key, [()] * len(worlds))[index] = tuple(values)
    measured = quantities(candidate_values, settings.versus)
    primary_keys = settings.primary_keys({key[0] for key in by_world})
    missing = sorted(primary_keys - set(by_world))
    if missing:
        raise UserError(f"the reference has no values for the primary check {' '.join(missing[0])}")
    checks = [
        _check(key, reference, tuple(measured.get(key, ())), settings, key in primary_keys, len(primary_keys), same)
        for key, reference in sorted(by_world.items())
    ]
    return Comparison(checks, roots[same].name if same is not None else None)


def _without_seeds_of(world: Values, candidate: Values) -> Values:
    """The reference world's runs of seeds the candidate does not have (its base model kept)."""
    theirs = {seed for (_, method, seed) in candidate if method != BASE_METHOD}
    return {key: scores for key, scores in world.items() if key[1] == BASE_METHOD or key[2] not in theirs}


def _check(key: Key, reference: list[tuple[float, ...]], candidate: tuple[float, ...], settings: RegressionFile,
           primary: bool, family: int, same_world: int | None = None) -> Check:
    rate = settings.false_alarm_rate / family if primary else settings.secondary_rate
    floor = settings.floor_of(key[2])
    seeds = len(candidate) or 1
    within = same_world is not None and bool(reference[same_world])
    found = same_world_spread(reference, same_world, seeds) if within else spread(reference, seeds)
    world = same_world if within else None
    if found is None:
        return Check(*key, tuple(reference), candidate, floor, floor, primary, world)
    error = math.sqrt(found.variance)
    critical = found.quantile(rate)
    power = found.quantile(2 * (1 - settings.power))  # one-sided quantile of the power
    return Check(*key, tuple(reference), candidate, max(floor, critical * error),
                 max(floor, (critical + power) * error), primary, world)


def format_report(comparison: Comparison) -> str:
    lines = [comparison_mode(comparison), "",
             "primary checks (they decide; a family false-alarm rate, docs/regression.md):",
             *_table(comparison.primary),
             "", "secondary checks (reported, not failing; ✗: outside its own band):", *_table(comparison.secondary)]
    failures = [c for c in comparison.primary if not c.ok]
    outside = [c for c in comparison.secondary if not c.ok]
    lines.append(f"{len(comparison.primary) - len(failures)} of {len(comparison.primary)} primary checks within "
                 "what the reference's worlds and seeds allow" + (f"; {len(failures)} outside or missing"
                                                                  if failures else "")
                 + f"; {len(outside)} of {len(comparison.secondary)} secondary checks outside their bands")
    return "\n".join(lines)


OTHER_WORLD = ("fail: no reference world's base models answer as the candidate's (another kind of machine, or a "
               "change to the base models or their evaluation); make this machine kind's reference with `bash "
               ".ci/make_smoke_references.sh results/smoke 0 9 KIND` (results/smoke/world0-KIND), or pass "
               "--across-worlds for an indicative comparison")


def comparison_mode(comparison: Comparison) -> str:
    if comparison.same_world is not None:
        return (f"same world: the candidate's base models answer every item as reference {comparison.same_world}'s "
                "do; each check against that world's other seeds (the seed spread pooled over every world)")
    return ("across worlds: no reference world's base models answer as the candidate's (another kind of CPU, "
            "or a change to the base models or their evaluation); each band must also cover a new world, "
            "which makes it wide, and the false-alarm rate is not the declared one (docs/regression.md)")


def _table(checks: list[Check]) -> list[str]:
    header = (f"{'':2}{'model':<18}{'method':<14}{'benchmark':<22}{'quantity':<12}{'reference':>17}"
              f"{'candidate':>11}{'delta':>8}{'band':>7}{'mde':>7}")
    lines = [header]
    for c in checks:
        mark = "  " if c.ok else "✗ "
        reference = f"{c.reference_mean:.2f}±{c.reference_sd:.2f} n={len(c.reference_values)}"
        candidate = "missing" if c.candidate_mean is None else f"{c.candidate_mean:.2f}"
        delta = "" if c.delta is None else f"{c.delta:+.2f}"
        lines.append(f"{mark}{c.model:<18}{c.method:<14}{c.benchmark:<22}{c.kind:<12}{reference:>17}"
                     f"{candidate:>11}{delta:>8}{c.band:>7.2f}{c.mde:>7.2f}")
    return lines


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
    return f"note: the reference was made on {_describe(found)}, the candidate on {_describe(theirs)}"


def _describe(machines_found: set[tuple]) -> str:
    return "; ".join(" ".join(machine) for machine in sorted(machines_found))
