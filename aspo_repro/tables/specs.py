"""Table and figure specs as data: which rows, which benchmarks, which runs each needs, per profile.

Each YAML file of ``configs/tables/`` (``catalog``) is read here, once, through one typed loader
(``TableFile`` / ``FigureFile``; an unknown key is refused by name) into the dataclasses below.
What a file does not restate comes from its registry: a model's label and the paper model it
stands for (``models.registry``), a benchmark's label, direction and paper analogue
(``evaluation.benchmarks``).

A table row is one model x method (x reward level); it is either run (a ``RunKey`` per seed)
or shown with the paper's numbers only (Table 1's other MLLMs, Table 2's other methods).

Profiles compare differently:
- ``paper``: a cell is diffed against the published number of the same row and benchmark.
- ``mini``: other models on other benchmarks, so a cell shows its change over its own base model,
  beside the paper's published change over base on the analogous benchmark (pope <-> mini_pope).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.evaluation.benchmarks import get_benchmark
from aspo_repro.results import (
    BASE_METHOD,
    RunKey,
    check_benchmark,
    check_profile,
    higher_is_better,
    resolve_method,
)
from aspo_repro.tables import catalog
from aspo_repro.tables.published import AVERAGE, PUBLISHED_BENCHMARKS, RowKey

SPEC_DIR = catalog.SPEC_DIR


def plain_label(benchmark: str) -> str:
    """A benchmark's column heading (``MMB-dev``), or ``Avg`` for the paper's average."""
    return "Avg" if benchmark == AVERAGE else get_benchmark(benchmark).label


def benchmark_label(benchmark: str) -> str:
    """The heading with ``↓`` on a lower-is-better benchmark."""
    label = plain_label(benchmark)
    return label if benchmark == AVERAGE or higher_is_better(benchmark) else f"{label}↓"


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
    published: RowKey | None  # None: a row of this project's only (the mini world's oracle)
    published_base: RowKey | None  # the paper's base row for a change over base (mini profile)
    model: str | None = None  # the run's model; None for a row shown with published numbers only
    method: str | None = None
    versus: str | None = None  # mini: a method this row's change is also measured against (ASPO vs DPO)
    versus_label: str = ""  # how the table names it

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
            for model in chosen for method in methods for seed in method_seeds(method, seeds)
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


@dataclass(frozen=True)
class SweepRule:
    """How a sweep picks its setting: the largest value at which ``series`` moves the held-out chosen
    answers by at least ``min_drift`` and at most ``max_drift`` nats per token (absolute mean drift).
    Stated in the figure's file, before the result it picks from is seen."""

    series: str
    max_drift: float
    min_drift: float = 0.0


@dataclass(frozen=True)
class SweepSpec:
    """A training setting swept over values, for several methods (``series``) and models: every
    run is ``method[option=value]``; panels are benchmarks or ``held_out_drift`` (training/drift.py)."""

    table: str
    profile: str
    title: str
    option: str
    values: tuple[float, ...]
    series: tuple[str, ...]
    panels: tuple[str, ...]
    models: tuple[str, ...]
    rule: SweepRule | None = None

    @property
    def name(self) -> str:
        return self.table

    def method(self, series: str, value: float) -> str:
        from aspo_repro.methods import get_method

        return get_method(series, **{self.option: value}).name

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        chosen = select_models(self, models)
        runs = [RunKey(self.profile, model, BASE_METHOD) for model in chosen]
        runs += [RunKey(self.profile, model, self.method(series, value), seed)
                 for model in chosen for series in self.series for value in self.values for seed in seed_range(seeds)]
        return _dedupe(runs)


Spec = TableSpec | FigureSpec | SweepSpec


def method_seeds(method: str, seeds: int) -> range:
    """The seeds a method's runs need: the base model is not trained, so one evaluation serves every seed."""
    return seed_range(1) if method == BASE_METHOD else seed_range(seeds)


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
    return catalog.find(table).name


def load_spec(table: str | int, profile: str, spec_dir: str | os.PathLike | None = None) -> Spec:
    """The spec of ``table`` (``catalog.known_names()``: 1, 2, 5, 6, figure3) on ``profile``."""
    entry = catalog.find(table, spec_dir)
    return _load_spec_cached(entry.path, entry.is_figure, check_profile(profile))


@cache
def _load_spec_cached(path: Path, is_figure: bool, profile: str) -> Spec:
    from aspo_repro.files import dataclass_from_mapping, read_yaml_mapping

    data = read_yaml_mapping(path, "table spec")
    where = f"{path}"
    if is_figure and "option" in data:
        return _sweep_spec(dataclass_from_mapping(SweepFile, data, where), profile, where)
    if is_figure:
        return _figure_spec(dataclass_from_mapping(FigureFile, data, where), profile, where)
    return _table_spec(dataclass_from_mapping(TableFile, data, where), profile, where)


# ---------------------------------------------------------------- the files' schema
@dataclass(frozen=True)
class RowEntry:
    label: str  # the method column
    method: str
    level: str = ""
    published_method: str | None = None  # the paper's row, when named otherwise (Table 6)
    versus: str | None = None  # another row's method this row's change is measured against (mini profile)
    profiles: tuple[str, ...] | None = None  # the profiles that have this row (default: every one)


@dataclass(frozen=True)
class PublishedRowEntry:
    model: str  # the paper's model slug (baselines/published.csv)
    method: str
    model_label: str | None = None
    label: str = ""
    level: str = ""


@dataclass(frozen=True)
class PublishedOnly:
    profiles: tuple[str, ...]
    rows: tuple[PublishedRowEntry, ...]


@dataclass(frozen=True)
class TableSection:
    models: tuple[str, ...]  # registry models of the profile
    benchmarks: tuple[str, ...]  # the profile's benchmarks, in column order


@dataclass(frozen=True)
class TableFile:
    table: str
    title: str
    rows: tuple[RowEntry, ...]
    profiles: dict[str, TableSection]
    published_table: str | None = None  # the paper table the rows are diffed against (default: table)
    base_table: str | None = None  # the paper table holding the base rows (default: published_table)
    average: bool = True
    published_only: PublishedOnly | None = None
    in_paper: bool = True


@dataclass(frozen=True)
class PointEntry:
    alpha: float
    method: str


@dataclass(frozen=True)
class PublishedPointEntry:
    alpha: float
    table: str
    method: str
    level: str = ""


@dataclass(frozen=True)
class FigureSection:
    model: str
    shr: str
    others: tuple[str, ...]
    published_model: str | None = None


@dataclass(frozen=True)
class FigureFile:
    figure: str
    title: str
    points: tuple[PointEntry, ...]
    profiles: dict[str, FigureSection]
    published_points: tuple[PublishedPointEntry, ...] = field(default_factory=tuple)
    in_paper: bool = True


@dataclass(frozen=True)
class SweepSection:
    models: tuple[str, ...]


@dataclass(frozen=True)
class SweepFile:
    figure: str
    title: str
    option: str  # a method option every series takes (``learning_rate``)
    values: tuple[float, ...]
    series: tuple[str, ...]  # registered methods
    panels: tuple[str, ...]  # benchmarks of the profile, or ``held_out_drift``
    profiles: dict[str, SweepSection]
    rule: SweepRule | None = None
    in_paper: bool = False


# ---------------------------------------------------------------- file -> spec
def _section(sections: dict, profile: str, where: str):
    try:
        return sections[profile]
    except KeyError:
        raise UserError(f"{where}: no `profiles: {profile}:` section (has: {', '.join(sections)})") from None


def _table_spec(data: TableFile, profile: str, where: str) -> TableSpec:
    section = _section(data.profiles, profile, where)
    published_table = data.published_table or data.table
    base_table = data.base_table or published_table
    models = [_model(name, profile, where) for name in section.models]
    try:
        entries = [entry for entry in data.rows if entry.profiles is None or profile in entry.profiles]
        rows = [_run_row(entry, model, published_table, base_table, entries, profile)
                for model in models for entry in entries]
        if data.published_only and profile in data.published_only.profiles:
            rows += [_published_row(entry, published_table) for entry in data.published_only.rows]
        columns = tuple(_column(name, profile) for name in section.benchmarks)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return TableSpec(
        table=data.table,
        profile=profile,
        title=data.title,
        columns=columns,
        rows=tuple(rows),
        models=tuple(model.name for model in models),
        model_analogues={model.name: model.stands_for for model in models},
        analogue_labels={model.display_name: _model(model.stands_for, "paper", where).display_name
                         for model in models},
        average=data.average,
    )


def _model(name: str, profile: str, where: str):
    """The registry entry of a table's model, which must belong to the profile."""
    from aspo_repro.models import get_model_spec, model_names

    try:
        model = get_model_spec(name)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    if model.profile != profile:
        raise UserError(
            f"{where}: model {name!r} is a {model.profile}-profile model; the {profile} profile's "
            f"models are {', '.join(model_names(profile))}"
        )
    return model


def _column(name: str, profile: str) -> Column:
    """A benchmark column; a mini benchmark is compared with the paper benchmark it stands for."""
    benchmark = get_benchmark(check_benchmark(profile, name))
    published = benchmark.name if profile == "paper" else benchmark.analogue_of
    if published is not None and published not in PUBLISHED_BENCHMARKS:
        raise unknown_name("published benchmark", published, PUBLISHED_BENCHMARKS)
    if published is not None and higher_is_better(published) != benchmark.higher_is_better:
        raise UserError(f"{name} and its analogue {published} must point the same way (SHR is lower-is-better)")
    return Column(benchmark.name, published)


def _run_row(entry: RowEntry, model, published_table: str, base_table: str, entries: list[RowEntry],
             profile: str) -> TableRow:
    resolve_method(entry.method)  # an unknown or non-canonical method fails here, at load time
    in_the_paper = entry.profiles is None or "paper" in entry.profiles  # else the paper has no such row
    published = (RowKey(published_table, model.stands_for, entry.published_method or entry.method, entry.level)
                 if in_the_paper else None)
    versus = [other for other in entries if other.method == entry.versus]
    if entry.versus is not None and not versus:
        raise UserError(f"row {entry.label!r} is measured against {entry.versus!r}, which is no row of the "
                        f"{profile} profile's table")
    return TableRow(
        model_label=model.display_name,
        label=entry.label,
        level=entry.level,
        published=published,
        published_base=RowKey(base_table, model.stands_for, BASE_METHOD, ""),
        model=model.name,
        method=entry.method,
        versus=entry.versus if profile != "paper" else None,
        versus_label=_versus_label(versus[0]) if versus else "",
    )


def _versus_label(row: RowEntry) -> str:
    label = row.label.lstrip("+").strip()
    return f"{label} ({row.level})" if row.level else label


def _published_row(entry: PublishedRowEntry, published_table: str) -> TableRow:
    return TableRow(
        model_label=entry.model_label or entry.model,
        label=entry.label,
        level=entry.level,
        published=RowKey(published_table, entry.model, entry.method, entry.level),
        published_base=RowKey(published_table, entry.model, BASE_METHOD, ""),
    )


def _figure_spec(data: FigureFile, profile: str, where: str) -> FigureSpec:
    section = _section(data.profiles, profile, where)
    points = tuple(SweepPoint(point.alpha, point.method) for point in data.points)
    try:
        for point in points:
            method = resolve_method(point.method)
            if method is None or method.alpha != point.alpha:
                raise UserError(f"sweep point alpha={point.alpha}: method {point.method!r} does not have that alpha")
        shr = check_benchmark(profile, section.shr)
        others = tuple(check_benchmark(profile, name) for name in section.others)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    published_points = tuple(
        (p.alpha, RowKey(p.table, section.published_model, p.method, p.level)) for p in data.published_points
    ) if section.published_model else ()
    return FigureSpec(
        table=data.figure,
        profile=profile,
        title=data.title,
        model=_model(section.model, profile, where).name,
        shr=shr,
        others=others,
        points=points,
        published_points=published_points,
    )


HELD_OUT_DRIFT = "held_out_drift"  # a sweep panel: the held-out chosen drift per token (training/drift.py)


def _sweep_spec(data: SweepFile, profile: str, where: str) -> SweepSpec:
    from aspo_repro.methods import get_method

    section = _section(data.profiles, profile, where)
    try:
        models = tuple(_model(name, profile, where).name for name in section.models)
        for series in data.series:
            if not get_method(series).takes(data.option):
                raise UserError(f"method {series!r} takes no option {data.option!r}")
            for value in data.values:
                get_method(series, **{data.option: value})
        panels = tuple(name if name == HELD_OUT_DRIFT else check_benchmark(profile, name) for name in data.panels)
        if data.rule is not None and data.rule.series not in data.series:
            raise UserError(f"the rule reads series {data.rule.series!r}, which is not swept")
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return SweepSpec(data.figure, profile, data.title, data.option, tuple(data.values), tuple(data.series),
                     panels, models, data.rule)


def runs_needed(
    table: str | int, profile: str, models: list[str] | None = None, seeds: int = 1,
) -> list[RunKey]:
    """Every run ``table`` needs on ``profile``: one ``RunKey`` per model x method x seed (0..seeds-1).

    On the mini profile the base model of every row's model is included, as each cell is read
    against its own base.
    """
    return load_spec(table, profile).runs_needed(models, seeds)
