"""Table and figure specs: a table file (``table_file``) read for one profile, and what it answers.

A spec keeps its file and adds only what the file does not state: the profile's section checked
against the registries, and what follows from it (which runs it needs, its columns and rows).
What a file does not restate comes from its registry: a model's label and the paper model it
stands for (``models.registry``), a benchmark's label, direction and paper analogue
(``evaluation.benchmarks``).

A table row is one model x method (x reward level); it is either run (a ``RunKey`` per seed)
or shown with the paper's numbers only (Table 1's other MLLMs, Table 2's other methods).

Profiles compare differently:
- the paper's (``ProfileKind.published``): a cell is diffed against the published number of the
  same row and benchmark.
- ``mini``: other models on other benchmarks, so a cell shows its change over its own base model,
  beside the paper's published change over base on the analogous benchmark (pope <-> mini_pope).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import aspo_repro.tables.catalog as catalog
from aspo_repro.errors import UserError, unknown_name
from aspo_repro.evaluation.benchmarks import get_benchmark
from aspo_repro.profile_kinds import get_profile_kind, published_profile
from aspo_repro.results import (
    BASE_METHOD,
    RunKey,
    check_benchmark,
    check_profile,
    higher_is_better,
    resolve_method,
)
from aspo_repro.tables.published import AVERAGE, PUBLISHED_BENCHMARKS, RowKey
from aspo_repro.tables.table_file import (
    BaseQualityFile,
    BaseQualitySection,
    FigureFile,
    FigureSection,
    PublishedRowEntry,
    RowEntry,
    SweepFile,
    SweepSection,
    TableFile,
    TableFileKind,
    TableSection,
    WeightQualityFile,
    WeightQualitySection,
    read_table_file,
)

HELD_OUT_DRIFT = "held_out_drift"  # a sweep panel: the held-out chosen drift per token (training/drift.py)


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

    @property
    def is_average(self) -> bool:
        """The paper's Avg column: a mean of the row's other columns, not a benchmark that is run."""
        return self.benchmark == AVERAGE


@dataclass(frozen=True)
class TableRow:
    """A row of a table as shown: a file's row applied to one model, its published rows resolved."""

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


@dataclass(frozen=True)
class FileSpec:
    """A table file read for one profile: what every kind of spec answers from its file."""

    file: TableFileKind
    profile: str

    @property
    def table(self) -> str:
        """What ``--table`` names it: ``1``, ``figure3``."""
        return self.file.key

    @property
    def name(self) -> str:
        """The name of its generated files: ``table1``, ``figure3``."""
        return self.file.stem

    @property
    def title(self) -> str:
        return self.file.title

    @property
    def section(self) -> TableSection | FigureSection | SweepSection | WeightQualitySection | BaseQualitySection:
        """What the file shows on this spec's profile."""
        return self.file.section(self.profile)


@dataclass(frozen=True)
class TableSpec(FileSpec):
    file: TableFile
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    models: tuple[str, ...]
    analogue_labels: dict[str, str]  # a run model's label -> that of the paper model it stands for

    @property
    def compares_with_published(self) -> bool:
        """Whether a cell is diffed against the published number (the paper's profile), or read as a
        change over its own base model (mini)."""
        return get_profile_kind(self.profile).published

    @property
    def has_levels(self) -> bool:
        return any(row.level for row in self.rows)

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        chosen = select_models(self, models)
        methods = [row.method for row in self.rows if row.runnable]
        if not self.compares_with_published and BASE_METHOD not in methods:
            methods.insert(0, BASE_METHOD)
        return _dedupe(
            RunKey(self.profile, model, method, seed)
            for model in chosen for method in methods for seed in method_seeds(method, seeds)
        )


@dataclass(frozen=True)
class FigureSpec(FileSpec):
    file: FigureFile

    @property
    def models(self) -> tuple[str, ...]:
        return (self.section.model,)

    @property
    def published_points(self) -> tuple[tuple[float, RowKey], ...]:
        """The paper's rows drawn at their alphas (none where the profile names no published model)."""
        model = self.section.published_model
        if not model:
            return ()
        return tuple((p.alpha, RowKey(p.table, model, p.method, p.level)) for p in self.file.published_points)

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        if not select_models(self, models):
            return []
        return _dedupe(
            RunKey(self.profile, self.section.model, point.method, seed)
            for point in self.file.points for seed in seed_range(seeds)
        )


@dataclass(frozen=True)
class SweepSpec(FileSpec):
    file: SweepFile

    @property
    def models(self) -> tuple[str, ...]:
        return self.section.models

    def method(self, series: str, value: float) -> str:
        from aspo_repro.methods import get_method

        return get_method(series, **{self.file.option: value}).name

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        chosen = select_models(self, models)
        runs = [RunKey(self.profile, model, BASE_METHOD) for model in chosen]
        runs += [RunKey(self.profile, model, self.method(series, value), seed)
                 for model in chosen for series in self.file.series for value in self.file.values
                 for seed in seed_range(seeds)]
        return _dedupe(runs)


@dataclass(frozen=True)
class WeightQualitySpec(FileSpec):
    file: WeightQualityFile

    @property
    def models(self) -> tuple[str, ...]:
        return (self.section.model,)

    @property
    def methods(self) -> tuple[str, ...]:
        """The method every row is compared with, then the rows' methods."""
        return (self.file.versus, *(row.method for row in self.file.rows))

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        if not select_models(self, models):
            return []
        return _dedupe(RunKey(self.profile, self.section.model, method, seed)
                       for method in self.methods for seed in method_seeds(method, seeds))


@dataclass(frozen=True)
class BaseQualitySpec(FileSpec):
    file: BaseQualityFile

    @property
    def models(self) -> tuple[str, ...]:
        """The models as ``--models`` names them: each stands for itself and its graded models."""
        return self.section.models

    @property
    def budgets(self) -> tuple[float, ...]:
        """Every level's SFT steps as a multiple of the world's recipe (the world's own model: 1.0), least first."""
        return tuple(sorted((*self.file.budgets, 1.0)))

    def levels(self, model: str) -> list[str]:
        """``model`` at every budget, least trained first: its graded models and ``model`` itself (1.0)."""
        from aspo_repro.models.registry import graded_name

        return [model if budget == 1.0 else graded_name(model, budget) for budget in self.budgets]

    def runs_needed(self, models: list[str] | None = None, seeds: int = 1) -> list[RunKey]:
        methods = (BASE_METHOD, self.file.versus, self.file.method)
        return _dedupe(RunKey(self.profile, level, method, seed)
                       for model in select_models(self, models) for level in self.levels(model)
                       for method in methods for seed in method_seeds(method, seeds))


Spec = TableSpec | FigureSpec | SweepSpec | WeightQualitySpec | BaseQualitySpec


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
    return _load_spec_cached(catalog.find(table, spec_dir).path, check_profile(profile))


@cache
def _load_spec_cached(path: Path, profile: str) -> Spec:
    file = read_table_file(path)
    try:
        return _SPEC_BUILDERS[type(file)](file, profile)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None


def runs_needed(
    table: str | int, profile: str, models: list[str] | None = None, seeds: int = 1,
) -> list[RunKey]:
    """Every run ``table`` needs on ``profile``: one ``RunKey`` per model x method x seed (0..seeds-1).

    On the mini profile the base model of every row's model is included, as each cell is read
    against its own base.
    """
    return load_spec(table, profile).runs_needed(models, seeds)


# ---------------------------------------------------------------- a file, checked for one profile
def _table_spec(file: TableFile, profile: str) -> TableSpec:
    section = file.section(profile)
    models = [_model(name, profile) for name in section.models]
    entries = file.rows_on(profile)
    rows = [_run_row(entry, model, file, entries, profile) for model in models for entry in entries]
    rows += [_published_row(entry, file.paper_table) for entry in file.published_rows_on(profile)]
    columns = tuple(benchmark_column(name, profile) for name in section.benchmarks)
    return TableSpec(
        file=file,
        profile=profile,
        columns=columns,
        rows=tuple(rows),
        models=tuple(model.name for model in models),
        analogue_labels={model.display_name: _model(model.stands_for, published_profile().name).display_name
                         for model in models},
    )


def _model(name: str, profile: str):
    """The registry entry of a table's model, which must belong to the profile."""
    from aspo_repro.models import get_model_spec, model_names

    model = get_model_spec(name)
    if model.profile != profile:
        raise UserError(
            f"model {name!r} is a {model.profile}-profile model; the {profile} profile's "
            f"models are {', '.join(model_names(profile))}"
        )
    return model


def benchmark_column(name: str, profile: str) -> Column:
    """A benchmark column; a mini benchmark is compared with the paper benchmark it stands for."""
    benchmark = get_benchmark(check_benchmark(profile, name))
    published = benchmark.name if get_profile_kind(profile).published else benchmark.analogue_of
    if published is not None and published not in PUBLISHED_BENCHMARKS:
        raise unknown_name("published benchmark", published, PUBLISHED_BENCHMARKS)
    if published is not None and higher_is_better(published) != benchmark.higher_is_better:
        raise UserError(f"{name} and its analogue {published} must point the same way (SHR is lower-is-better)")
    return Column(benchmark.name, published)


def _run_row(entry: RowEntry, model, file: TableFile, entries: list[RowEntry], profile: str) -> TableRow:
    resolve_method(entry.method)  # an unknown or non-canonical method fails here, at load time
    # a row of the paper's profile, or one that names the paper's row it stands for; else the paper has none
    in_the_paper = entry.on(published_profile().name) or entry.published_method is not None
    published = (RowKey(file.paper_table, model.stands_for, entry.published_method or entry.method, entry.level)
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
        published_base=RowKey(file.paper_base_table, model.stands_for, BASE_METHOD, ""),
        model=model.name,
        method=entry.method,
        versus=None if get_profile_kind(profile).published else entry.versus,
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


def _figure_spec(file: FigureFile, profile: str) -> FigureSpec:
    section = file.section(profile)
    for point in file.points:
        method = resolve_method(point.method)
        if method is None or method.alpha != point.alpha:
            raise UserError(f"sweep point alpha={point.alpha}: method {point.method!r} does not have that alpha")
    for benchmark in (section.shr, *section.others):
        check_benchmark(profile, benchmark)
    _model(section.model, profile)
    return FigureSpec(file, profile)


def _sweep_spec(file: SweepFile, profile: str) -> SweepSpec:
    from aspo_repro.methods import get_method

    for name in file.section(profile).models:
        _model(name, profile)
    for series in file.series:
        if not get_method(series).takes(file.option):
            raise UserError(f"method {series!r} takes no option {file.option!r}")
        for value in file.values:
            get_method(series, **{file.option: value})
    for panel in file.panels:
        if panel != HELD_OUT_DRIFT:
            check_benchmark(profile, panel)
    if file.rule is not None and file.rule.series not in file.series:
        raise UserError(f"the rule reads series {file.rule.series!r}, which is not swept")
    return SweepSpec(file, profile)


def _weight_quality_spec(file: WeightQualityFile, profile: str) -> WeightQualitySpec:
    _model(file.section(profile).model, profile)
    for panel in file.panels:
        check_benchmark(profile, panel)
    methods = [file.versus, *(row.method for row in file.rows)]
    for method in methods:
        resolve_method(method)  # an unknown or non-canonical method fails here, at load time
    repeated = sorted({method for method in methods if methods.count(method) > 1})
    if repeated:
        raise UserError(f"method(s) {', '.join(repeated)} named more than once (as a row or as `versus`)")
    return WeightQualitySpec(file, profile)


def _base_quality_spec(file: BaseQualityFile, profile: str) -> BaseQualitySpec:
    from aspo_repro.models.registry import graded_name

    for model in file.section(profile).models:
        if not _model(model, profile).profile_kind.builds_world:
            raise UserError(f"{model}: only a model its profile's world trains can be graded by its SFT budget")
        for budget in file.budgets:
            try:
                graded_name(model, budget)
            except ValueError as error:
                raise UserError(f"budgets: {error}") from None
    for benchmark in (file.quality, *file.panels):
        check_benchmark(profile, benchmark)
    for method in (file.versus, file.method):
        resolve_method(method)  # an unknown or non-canonical method fails here, at load time
    return BaseQualitySpec(file, profile)


_SPEC_BUILDERS = {TableFile: _table_spec, FigureFile: _figure_spec, SweepFile: _sweep_spec,
                  WeightQualityFile: _weight_quality_spec, BaseQualityFile: _base_quality_spec}
