"""The run-result store: what evaluation writes and what tables and orchestration read.

One evaluated run is one ``eval.json`` at
``results/<profile>/<model>/<method-slug>/seed<k>/eval.json``. A run is named by a ``RunKey``:
``method`` is ``base`` for the untrained model, a registry method (``dpo``, ``aspo``, ``aspo-s``,
...) or a variant with options overridden, spelled as ``Method.name`` spells it
(``aspo[alpha=0.25]``). Its path slug swaps the brackets for ``@`` (``aspo@alpha=0.25``) so that
the directory name is safe on every file system and maps back to exactly one method.

Every score is on the paper's 0-100 scale; each benchmark's direction is the registry's
(``aspo_repro.evaluation.benchmarks``: SHR and mini-SHR are lower-is-better).
"""

from __future__ import annotations

import glob
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro import storage
from aspo_repro.errors import UserError, unknown_name
from aspo_repro.evaluation.benchmarks import PROFILES, REGISTRY, benchmark_names

if TYPE_CHECKING:
    import pandas as pd

    from aspo_repro.methods import Method

SCHEMA_VERSION = 1
EVAL_FILENAME = "eval.json"
BASE_METHOD = "base"
DEFAULT_SEED = 0

# Derived from the benchmark registry (``aspo_repro.evaluation.benchmarks``), which states them.
BENCHMARKS = {profile: benchmark_names(profile) for profile in PROFILES}
PAPER_BENCHMARKS = BENCHMARKS["paper"]
MINI_BENCHMARKS = BENCHMARKS["mini"]

COLLECT_COLUMNS = (
    "profile", "model", "method", "seed", "benchmark", "value", "stderr", "n", "items", "path", "dtype",
    "judge", "protocol",
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9._+-]+)")


def higher_is_better(benchmark: str) -> bool:
    """The benchmark's direction, from the registry; a name it does not hold is refused."""
    try:
        return REGISTRY[benchmark].higher_is_better
    except KeyError:
        raise unknown_name("benchmark", benchmark, REGISTRY) from None


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise unknown_name("profile", profile, PROFILES)
    return profile


def in_average(benchmark: str) -> bool:
    """Whether the benchmark counts in a table's Avg (the paper's: higher-is-better scores only)."""
    higher = higher_is_better(benchmark)
    return higher and REGISTRY[benchmark].in_average


def check_benchmark(profile: str, benchmark: str) -> str:
    known = benchmark_names(check_profile(profile))
    if benchmark not in known:
        raise unknown_name(f"{profile}-profile benchmark", benchmark, known)
    return benchmark


def split_method_name(name: str) -> tuple[str, dict[str, str]]:
    """``aspo[alpha=0.25,norm=none]`` -> (``aspo``, {alpha: "0.25", norm: "none"})."""
    base, bracket, rest = name.partition("[")
    if not _NAME.fullmatch(base) or (bracket and not rest.endswith("]")):
        raise UserError(
            f"malformed method name {name!r}: expected NAME or NAME[option=value,...], "
            "e.g. aspo or aspo[alpha=0.25]"
        )
    options: dict[str, str] = {}
    for part in rest[:-1].split(",") if bracket else ():
        match = _OPTION.fullmatch(part)
        if not match:
            raise UserError(f"malformed option {part!r} in method name {name!r}: expected option=value")
        options[match.group(1)] = match.group(2)
    return base, options


def method_options(name: str) -> tuple[str, dict[str, object]]:
    """``aspo[alpha=0.25,norm=none]`` -> (``aspo``, {alpha: 0.25, norm: "none"}): options typed as
    ``get_method`` takes them (numbers, True/False, else text)."""
    base, options = split_method_name(name)
    return base, {key: _option_value(value) for key, value in options.items()}


def _option_value(text: str) -> object:
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def resolve_method(name: str) -> Method | None:
    """The registry ``Method`` a run's method name stands for; None for ``base``.

    The name must be canonical (as ``Method.with_options`` writes it), so that one training
    setting has one name and one directory: ``aspo[alpha=0.5]`` is refused in favour of ``aspo``.
    """
    from aspo_repro.methods import get_method

    if name == BASE_METHOD:
        return None
    base, options = method_options(name)
    method = get_method(base, **options)
    if method.name != name:
        raise UserError(f"method name {name!r} is not canonical; the same run is named {method.name!r}")
    return method


def method_slug(name: str) -> str:
    """Filesystem-safe directory name of a method name: ``aspo[alpha=0.25]`` -> ``aspo@alpha=0.25``."""
    base, options = split_method_name(name)
    return "@".join([base, *(f"{key}={value}" for key, value in options.items())])


def method_from_slug(slug: str) -> str:
    """Inverse of ``method_slug``."""
    base, *options = slug.split("@")
    return f"{base}[{','.join(options)}]" if options else base


@dataclass(frozen=True, order=True)
class RunKey:
    """One trained-and-evaluated run: which profile, base model, method and seed."""

    profile: str
    model: str
    method: str
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        check_profile(self.profile)
        if not _NAME.fullmatch(self.model):
            raise UserError(f"model name {self.model!r} must be letters, digits, '.', '_' or '-'")
        split_method_name(self.method)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"seed must be a non-negative integer; got {self.seed!r}")

    @property
    def is_base(self) -> bool:
        return self.method == BASE_METHOD

    def directory(self, results_root: str | os.PathLike) -> Path:
        return Path(results_root) / self.profile / self.model / method_slug(self.method) / f"seed{self.seed}"

    def eval_path(self, results_root: str | os.PathLike) -> Path:
        return self.directory(results_root) / EVAL_FILENAME

    def label(self) -> str:
        return f"{self.profile}/{self.model}/{self.method}/seed{self.seed}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkScore:
    """One benchmark's score on the paper's scale (0-100; a relative score such as LLaVA-W's may
    exceed 100: ``Benchmark.max_value``, checked by ``EvalResult``), with what it was measured by."""

    value: float
    stderr: float | None = None
    n: int | None = None
    metric: str = ""
    judge: str | None = None  # the judge model and version, where a model judges
    # per task, each item's (numerator, denominator) of the metric (``evaluation.metrics.METRICS``),
    # in document order: what ``aspo_repro.intervals`` resamples. None where the metric has no items.
    items: dict[str, list[list[float]]] | None = None

    def __post_init__(self) -> None:
        if not _is_number(self.value) or float(self.value) < 0.0:
            raise UserError(f"a score must be a non-negative number on the 0-100 scale; got {self.value!r}")
        if self.stderr is not None and (not _is_number(self.stderr) or self.stderr < 0):
            raise UserError(f"stderr must be a non-negative number; got {self.stderr!r}")
        if self.n is not None and (isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0):
            raise UserError(f"n must be a non-negative integer; got {self.n!r}")
        if self.items is not None and not _are_item_ratios(self.items):
            raise UserError("items must map each task to a list of [numerator, denominator] pairs of numbers")


def _score_record(score: BenchmarkScore) -> dict[str, Any]:
    """A score as ``eval.json`` holds it: its items as one line per task, ``"num/den num/den ..."``
    (a thousand POPE questions are four kilobytes, not a hundred)."""
    record = asdict(score)
    if score.items is not None:
        record["items"] = {task: " ".join(f"{_plain(n)}/{_plain(d)}" for n, d in pairs)
                           for task, pairs in score.items.items()}
    return record


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _read_items(items: Any) -> Any:
    """Items from ``eval.json``: per task a ``"num/den ..."`` line (or a list of pairs, as written before)."""
    if not isinstance(items, dict):
        return items
    read = {}
    for task, pairs in items.items():
        if isinstance(pairs, str):
            try:
                pairs = [[float(n), float(d)] for n, d in (pair.split("/") for pair in pairs.split())]
            except ValueError:
                raise UserError(f"items of {task} must be 'numerator/denominator' pairs separated by spaces") from None
        read[task] = pairs
    return read


def _are_item_ratios(items: object) -> bool:
    return isinstance(items, dict) and all(
        isinstance(task, str) and isinstance(pairs, list)
        # a number may be negative: lmms-eval counts a failed LLaVA-W review as the scores [-1, -1]
        and all(isinstance(pair, list) and len(pair) == 2 and all(_is_number(v) for v in pair) for pair in pairs)
        for task, pairs in items.items()
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class EvalResult:
    """All benchmark scores of one run, with the provenance of the evaluation."""

    run: RunKey
    scores: dict[str, BenchmarkScore]
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. per-split numbers, raw task output

    def __post_init__(self) -> None:
        for benchmark, score in self.scores.items():
            check_benchmark(self.run.profile, benchmark)
            highest = REGISTRY[benchmark].max_value
            if highest is not None and score.value > highest:
                raise UserError(f"{benchmark}: a score must be a number on the 0-{highest:g} scale; got {score.value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run": self.run.as_dict(),
            "scores": {name: _score_record(score) for name, score in sorted(self.scores.items())},
            "provenance": self.provenance,
            "extra": self.extra,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a crash leaves the old file or none, never half of one. A committed
        reference (the repository's ``results/``) is written only from a clean checkout."""
        from aspo_repro.references import check_reference_write

        check_reference_write(path, self.provenance.get("git_revision"))
        return storage.atomic_write_json(path, self.to_dict())

    def save_to(self, results_root: str | os.PathLike) -> Path:
        return self.save(self.run.eval_path(results_root))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "result") -> EvalResult:
        try:
            if not isinstance(data, dict):
                raise TypeError("the top level is not a JSON object")
            if data.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(f"schema_version must be {SCHEMA_VERSION}, got {data.get('schema_version')!r}")
            run = RunKey(**data["run"])
            scores = {name: BenchmarkScore(**{**score, "items": _read_items(score.get("items"))})
                      for name, score in data["scores"].items()}
            return cls(run, scores, dict(data.get("provenance") or {}), dict(data.get("extra") or {}))
        except UserError as error:
            raise UserError(f"{source}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UserError(f"{source} is not a valid eval result ({type(error).__name__}: {error})") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> EvalResult:
        from aspo_repro.files import read_json

        return cls.from_dict(read_json(path, "eval result"), source=str(path))


DIAGNOSIS_FILENAME = "prefs_diagnosis.json"


def diagnosis_path(results_root: str | os.PathLike, profile: str, model: str) -> Path:
    """Where the diagnosis of a model's preference data lies among the results (mini profile)."""
    return Path(results_root) / check_profile(profile) / model / DIAGNOSIS_FILENAME


def load_result(path: str | os.PathLike) -> EvalResult:
    return EvalResult.load(path)


def result_exists(results_root: str | os.PathLike, run: RunKey, warn=None) -> bool:
    """Whether ``run`` has a readable eval result; a damaged one is reported to ``warn`` and is not done."""
    from aspo_repro.files import report_damage

    path = run.eval_path(results_root)
    if not path.is_file():
        return False
    try:
        EvalResult.load(path)
    except UserError as error:
        report_damage(error, warn)
        return False
    return True


def seed_results(results_root, run: RunKey, seeds: int | None) -> list[EvalResult]:
    """The results of ``run``'s model and method over seeds 0..seeds-1 (every seed found when None)."""
    found = []
    for path in sorted(run.directory(results_root).parent.glob("seed*/eval.json")):
        seed = path.parent.name[len("seed"):]
        if seed.isdigit() and (seeds is None or int(seed) < seeds):
            found.append(EvalResult.load(path))
    return found


def find_result_files(results_root: str | os.PathLike, profile: str, method: str | None = None) -> list[Path]:
    """Every ``eval.json`` of ``profile`` (of ``method``'s runs when named), skipping hidden
    (temporary, half-built) directories."""
    root = Path(results_root) / check_profile(profile)
    paths = root.glob(f"*/{glob.escape(method) if method else '*'}/seed*/{EVAL_FILENAME}")
    return sorted(p for p in paths if not any(part.startswith(".") for part in p.relative_to(root).parts))


def collect(results_root: str | os.PathLike, profile: str) -> pd.DataFrame:
    """Every score under ``results_root`` for ``profile``, one row per (run, benchmark).

    A file whose content names another run than its place in the tree is refused: the tree
    is the index the orchestrator trusts to know what is done.
    """
    import pandas as pd

    records = []
    for path in find_result_files(results_root, profile):
        result = EvalResult.load(path)
        if result.run.eval_path(results_root).resolve() != path.resolve():
            raise UserError(f"{path} holds the result of {result.run.label()}, which belongs elsewhere")
        for benchmark, score in result.scores.items():
            records.append({
                **result.run.as_dict(),
                "benchmark": benchmark,
                "value": float(score.value),
                "stderr": score.stderr,
                "n": score.n,
                "items": score.items,
                "path": str(path),
                "dtype": result.provenance.get("dtype"),  # what the evaluated model ran in
                "judge": score.judge,
                "protocol": result.provenance.get("protocol"),  # evaluation/protocols.py (paper profile)
            })
    frame = pd.DataFrame.from_records(records, columns=list(COLLECT_COLUMNS))
    return frame.astype({"seed": "int64", "value": "float64", "stderr": "float64"})
