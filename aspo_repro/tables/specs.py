"""Table and figure specs as data: which rows, which benchmarks, which runs each needs, per profile.

The YAML files under ``configs/tables/`` are read here, once, into the dataclasses below.
A table row is one model x method (x reward level); it is either run (a ``RunKey`` per seed)
or shown with the paper's numbers only (Table 1's other MLLMs, Table 2's other methods).

Profiles compare differently:
- ``paper``: a cell is diffed against the published number of the same row and benchmark.
- ``mini``: other models on other benchmarks, so a cell shows its change over its own base model,
  beside the paper's published change over base on the analogous benchmark (pope <-> mini_pope).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.results import (
    BASE_METHOD,
    RunKey,
    check_benchmark,
    check_profile,
    higher_is_better,
    resolve_method,
)
from aspo_repro.tables.published import PUBLISHED_BENCHMARKS, REPO_ROOT, RowKey

SPEC_DIR = REPO_ROOT / "configs" / "tables"
TABLES = ("1", "2", "5", "6")
FIGURES = ("figure3",)
KNOWN = (*TABLES, *FIGURES)
ALIASES = {"table1": "1", "table2": "2", "table5": "5", "table6": "6", "fig3": "figure3", "f3": "figure3"}

BENCHMARK_LABELS = {
    "mmvet": "MMVet", "mmbench_dev": "MMB-dev", "mmbench_test": "MMB-test", "mmbench_cn": "MMB-CN",
    "seed_image": "SEED-I", "llava_wild": "LLaVA-W", "sqa_img": "SQA-I", "gqa": "GQA",
    "pope": "POPE", "shr": "SHR", "avg": "Avg",
    "mini_pope": "mini-POPE", "mini_shr": "mini-SHR", "mini_gqa": "mini-GQA", "mini_mmb": "mini-MMB",
}


def benchmark_label(benchmark: str) -> str:
    label = BENCHMARK_LABELS.get(benchmark, benchmark)
    return label if higher_is_better(benchmark) else f"{label}↓"


@dataclass(frozen=True)
class Column:
    """A benchmark column: the runs' benchmark and the published benchmark it is compared with."""

    benchmark: str
    published: str | None

    @property
    def label(self) -> str:
        return benchmark_label(self.benchmark)


@dataclass(frozen=True)
class TableRow:
    model_label: str
    label: str  # the method column
    level: str
    published: RowKey
    published_base: RowKey | None  # the paper's base row for a change over base (mini profile)
    model: str | None = None  # the run's model; None for a row shown with published numbers only
    method: str | None = None

    @property
    def runnable(self) -> bool:
        return self.method is not None

    @property
    def is_base(self) -> bool:
        return self.method == BASE_METHOD

    def run(self, profile: str, seed: int) -> RunKey:
        return RunKey(profile, self.model, self.method, seed)


@dataclass(frozen=True)
class TableSpec:
    table: str
    profile: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    models: tuple[str, ...]
    model_analogues: dict[str, str]  # run model -> the paper model it stands for
    analogue_labels: dict[str, str]  # the same, as the tables print them
    average: bool = True

    @property
    def name(self) -> str:
        return f"table{self.table}"

    @property
    def compare(self) -> str:
        """``published`` (the paper profile) or ``base`` (mini: change over own base model)."""
        return "published" if self.profile == "paper" else "base"

    @property
    def has_levels(self) -> bool:
        return any(row.level for row in self.rows)

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        chosen = select_models(self, models)
        methods = [row.method for row in self.rows if row.runnable]
        if self.compare == "base" and BASE_METHOD not in methods:
            methods.insert(0, BASE_METHOD)
        return _dedupe(
            RunKey(self.profile, model, method, seed)
            for model in chosen for method in methods for seed in seed_range(seeds)
        )


@dataclass(frozen=True)
class SweepPoint:
    alpha: float
    method: str


@dataclass(frozen=True)
class FigureSpec:
    table: str
    profile: str
    title: str
    model: str
    shr: str
    others: tuple[str, ...]
    points: tuple[SweepPoint, ...]
    published_points: tuple[tuple[float, RowKey], ...]  # empty on the mini profile

    @property
    def name(self) -> str:
        return self.table

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model,)

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        if not select_models(self, models):
            return []
        return _dedupe(
            RunKey(self.profile, self.model, point.method, seed)
            for point in self.points for seed in seed_range(seeds)
        )


Spec = TableSpec | FigureSpec


def seed_range(seeds: int) -> range:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"seeds must be a positive integer; got {seeds!r}")
    return range(seeds)


def select_models(spec: Spec, models: list[str] | None) -> list[str]:
    """The spec's models restricted to ``models``; an unknown one is an error listing the known."""
    if models is None:
        return list(spec.models)
    for model in models:
        if model not in spec.models:
            raise UserError(
                f"unknown model {model!r} for {spec.name} on the {spec.profile} profile; "
                f"known models: {', '.join(spec.models)}"
            )
    return [model for model in spec.models if model in models]


def _dedupe(runs) -> list[RunKey]:
    return list(dict.fromkeys(runs))


def canonical_table(table: str | int) -> str:
    name = str(table).strip().lower()
    name = ALIASES.get(name, name)
    if name not in KNOWN:
        raise unknown_name("table", str(table), KNOWN)
    return name


def load_spec(table: str | int, profile: str, spec_dir: str | os.PathLike | None = None) -> Spec:
    """The spec of ``table`` (1, 2, 5, 6 or figure3) on ``profile`` (paper or mini)."""
    name = canonical_table(table)
    check_profile(profile)
    directory = Path(spec_dir) if spec_dir else SPEC_DIR
    stem = name if name in FIGURES else f"table{name}"
    return _load_spec_cached(directory / f"{stem}.yaml", profile)


@cache
def _load_spec_cached(path: Path, profile: str) -> Spec:
    data = _read_yaml(path)
    try:
        if "figure" in data:
            return _figure_spec(data, profile)
        return _table_spec(data, profile)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path} is not a valid table spec ({type(error).__name__}: {error})") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    from aspo_repro.files import read_yaml_mapping

    return read_yaml_mapping(path, "table spec")


def _table_spec(data: dict[str, Any], profile: str) -> TableSpec:
    section = data["profiles"][profile]
    table = str(data["table"])
    published_table = str(data.get("published_table", table))
    base_table = str(data.get("base_table", published_table))
    models = [_model_entry(entry, profile) for entry in section["models"]]
    paper_labels = {model: label for model, label, _ in
                    (_model_entry(entry, "paper") for entry in data["profiles"]["paper"]["models"])}
    rows = []
    for model, label, analogue in models:
        for entry in data["rows"]:
            rows.append(_run_row(entry, model, label, analogue, published_table, base_table))
    published_only = data.get("published_only") or {}
    if profile in published_only.get("profiles", ()):
        rows += [_published_row(entry, published_table) for entry in published_only["rows"]]
    return TableSpec(
        table=table,
        profile=profile,
        title=str(data["title"]),
        columns=tuple(_column(entry, profile) for entry in section["benchmarks"]),
        rows=tuple(rows),
        models=tuple(model for model, _, _ in models),
        model_analogues={model: analogue for model, _, analogue in models},
        analogue_labels={label: paper_labels.get(analogue, analogue) for _, label, analogue in models},
        average=bool(data.get("average", True)),
    )


def _model_entry(entry: dict[str, str], profile: str) -> tuple[str, str, str]:
    model = str(entry["model"])
    analogue = str(entry.get("analogue", model))
    if profile == "paper" and analogue != model:
        raise UserError(f"model {model!r}: on the paper profile a model is its own analogue")
    return model, str(entry.get("label", model)), analogue


def _column(entry: str | dict[str, str], profile: str) -> Column:
    if isinstance(entry, str):
        entry = {"benchmark": entry, "analogue": entry if profile == "paper" else None}
    benchmark = check_benchmark(profile, str(entry["benchmark"]))
    published = entry.get("analogue")
    if published is not None and published not in PUBLISHED_BENCHMARKS:
        raise unknown_name("published benchmark", published, PUBLISHED_BENCHMARKS)
    if published is not None and higher_is_better(published) != higher_is_better(benchmark):
        raise UserError(f"{benchmark} and its analogue {published} must point the same way (SHR is lower-is-better)")
    return Column(benchmark, published)


def _run_row(
    entry: dict[str, str], model: str, model_label: str, analogue: str,
    published_table: str, base_table: str,
) -> TableRow:
    method = str(entry["method"])
    resolve_method(method)  # an unknown or non-canonical method fails here, at load time
    level = str(entry.get("level") or "")
    published = RowKey(published_table, analogue, str(entry.get("published_method", method)), level)
    return TableRow(
        model_label=model_label,
        label=str(entry["label"]),
        level=level,
        published=published,
        published_base=RowKey(base_table, analogue, BASE_METHOD, ""),
        model=model,
        method=method,
    )


def _published_row(entry: dict[str, str], published_table: str) -> TableRow:
    level = str(entry.get("level") or "")
    model = str(entry["model"])
    method = str(entry["method"])
    return TableRow(
        model_label=str(entry.get("model_label", model)),
        label=str(entry.get("label", "")),
        level=level,
        published=RowKey(published_table, model, method, level),
        published_base=RowKey(published_table, model, BASE_METHOD, ""),
    )


def _figure_spec(data: dict[str, Any], profile: str) -> FigureSpec:
    section = data["profiles"][profile]
    points = tuple(SweepPoint(float(p["alpha"]), str(p["method"])) for p in data["points"])
    for point in points:
        method = resolve_method(point.method)
        if method is None or method.alpha != point.alpha:
            raise UserError(f"sweep point alpha={point.alpha}: method {point.method!r} does not have that alpha")
    published_model = section.get("published_model")
    published_points = tuple(
        (float(p["alpha"]), RowKey(str(p["table"]), published_model, str(p["method"]), str(p.get("level", ""))))
        for p in data.get("published_points", ())
    ) if published_model else ()
    return FigureSpec(
        table=str(data["figure"]),
        profile=profile,
        title=str(data["title"]),
        model=str(section["model"]),
        shr=check_benchmark(profile, str(section["shr"])),
        others=tuple(check_benchmark(profile, str(b)) for b in section["others"]),
        points=points,
        published_points=published_points,
    )


def runs_needed(
    table: str | int, profile: str, models: list[str] | None = None, seeds: int = 1,
) -> list[RunKey]:
    """Every run ``table`` needs on ``profile``: one ``RunKey`` per model x method x seed (0..seeds-1).

    On the mini profile the base model of every row's model is included, as each cell is read
    against its own base.
    """
    return load_spec(table, profile).runs_needed(models, seeds)
