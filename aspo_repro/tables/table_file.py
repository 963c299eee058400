"""A file of ``configs/tables/``: its schema and its one reader.

A file holds one table (``table: "1"``, ``TableFile``), one figure of points (``figure: figure3``,
``FigureFile``), one sweep of a training option (``figure:`` with ``option:``, ``SweepFile``) or one
figure of weight quality against a difference to another method (``figure:`` with ``versus:``,
``WeightQualityFile``) or one figure of base models of graded quality (``figure:`` with ``budgets:``,
``BaseQualityFile``).
It is read here, once, into these typed dataclasses (``files.dataclass_from_mapping``: an unknown
key is refused by name); ``catalog`` lists the files and ``specs`` answers the rest of the code's
questions from them. What a file does not state comes from the registries (a model's label, a
benchmark's label and analogue).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from aspo_repro.errors import UserError, unknown_name


class _ProfileSections:
    """A file's ``profiles:`` mapping: what the file shows on each profile."""

    def section(self, profile: str):
        try:
            return self.profiles[profile]
        except KeyError:
            raise UserError(f"no `profiles: {profile}:` section (has: {', '.join(self.profiles)})") from None


# ---------------------------------------------------------------- a table
@dataclass(frozen=True)
class RowEntry:
    label: str  # the method column
    method: str
    level: str = ""
    published_method: str | None = None  # the paper's row it stands for, when named otherwise (Tables 1, 5, 6)
    versus: str | None = None  # another row's method this row's change is measured against (mini profile)
    profiles: tuple[str, ...] | None = None  # the profiles that have this row (default: every one)

    def on(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


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
class TableFile(_ProfileSections):
    table: str
    title: str
    rows: tuple[RowEntry, ...]
    profiles: dict[str, TableSection]
    published_table: str | None = None  # the paper table the rows are diffed against (default: table)
    base_table: str | None = None  # the paper table holding the base rows (default: published_table)
    average: bool = True
    published_only: PublishedOnly | None = None
    in_paper: bool = True

    is_figure = False

    @property
    def key(self) -> str:
        """What ``--table`` names: ``1``."""
        return self.table

    @property
    def stem(self) -> str:
        """The generated files' name: ``table1``."""
        return f"table{self.table}"

    @property
    def paper_table(self) -> str:
        return self.published_table or self.table

    @property
    def paper_base_table(self) -> str:
        return self.base_table or self.paper_table

    def rows_on(self, profile: str) -> list[RowEntry]:
        return [entry for entry in self.rows if entry.on(profile)]

    def published_rows_on(self, profile: str) -> tuple[PublishedRowEntry, ...]:
        if self.published_only is None or profile not in self.published_only.profiles:
            return ()
        return self.published_only.rows

    def published_methods(self, profile: str) -> tuple[str, ...]:
        """The methods of the published rows this table reads on ``profile`` (the paper's), besides the base rows."""
        return (*(entry.published_method or entry.method for entry in self.rows_on(profile)),
                *(entry.method for entry in self.published_rows_on(profile)))


# ---------------------------------------------------------------- a figure of points (Figure 3)
@dataclass(frozen=True)
class SweepPoint:
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


class _Figure(_ProfileSections):
    """A figure file: named, and its outputs stemmed, by ``figure``."""

    is_figure = True

    @property
    def key(self) -> str:
        return self.figure

    @property
    def stem(self) -> str:
        return self.figure


@dataclass(frozen=True)
class FigureFile(_Figure):
    figure: str
    title: str
    points: tuple[SweepPoint, ...]
    profiles: dict[str, FigureSection]
    published_points: tuple[PublishedPointEntry, ...] = field(default_factory=tuple)
    in_paper: bool = True

    def published_methods(self, profile: str) -> tuple[str, ...]:
        """The methods of the published points drawn on ``profile`` (where it names a published model)."""
        section = self.profiles.get(profile)
        if section is None or not section.published_model:
            return ()
        return tuple(point.method for point in self.published_points)


# ---------------------------------------------------------------- a sweep of a training option
@dataclass(frozen=True)
class SweepRule:
    """How a sweep picks its setting: the largest value at which ``series`` moves the held-out chosen
    answers by at least ``min_drift`` and at most ``max_drift`` nats per token (absolute mean drift).
    Stated in the figure's file, before the result it picks from is seen."""

    series: str
    max_drift: float
    min_drift: float = 0.0


@dataclass(frozen=True)
class SweepSection:
    models: tuple[str, ...]


class _OwnFigure(_Figure):
    """A figure of this project's own (not the paper's), reading no published rows."""

    def published_methods(self, profile: str) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class SweepFile(_OwnFigure):
    """A training setting swept over values, for several methods (``series``) and models: every
    run is ``method[option=value]``; panels are benchmarks or ``held_out_drift`` (training/drift.py)."""

    figure: str
    title: str
    option: str  # a method option every series takes (``learning_rate``)
    values: tuple[float, ...]
    series: tuple[str, ...]  # registered methods
    panels: tuple[str, ...]  # benchmarks of the profile, or ``held_out_drift``
    profiles: dict[str, SweepSection]
    rule: SweepRule | None = None
    in_paper: bool = False


# ---------------------------------------------------------------- weight quality against a difference (issue 31)
@dataclass(frozen=True)
class Role:
    """What a row of a weight-quality figure is."""

    name: str
    joined: bool  # drawn as one line through the other rows of its role (the family), else a labelled point
    description: str


ROLES = {role.name: role for role in (
    Role("family", True, "weights of controlled quality, drawn as one line"),
    Role("marker", False, "weights the project has, placed where their quality puts them"),
)}


@dataclass(frozen=True)
class WeightRowEntry:
    method: str
    label: str
    role: str  # one of ``ROLES``

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise unknown_name("row role", self.role, ROLES)

    @property
    def kind(self) -> Role:
        return ROLES[self.role]


@dataclass(frozen=True)
class WeightQualitySection:
    model: str


@dataclass(frozen=True)
class WeightQualityFile(_OwnFigure):
    """Rows of sentence weights of measured quality (within-answer AUC) against each row's difference to
    ``versus`` on each panel benchmark, paired by seed (``tables/weight_quality.py``)."""

    figure: str
    title: str
    versus: str  # the method every row is compared with, seed by seed
    panels: tuple[str, ...]  # benchmarks of the profile
    rows: tuple[WeightRowEntry, ...]
    profiles: dict[str, WeightQualitySection]
    in_paper: bool = False


# ---------------------------------------------------------------- base quality against ASPO's gain (issue 31)
@dataclass(frozen=True)
class BaseQualitySection:
    models: tuple[str, ...]  # mini models, each also graded at every budget of the file


@dataclass(frozen=True)
class BaseQualityFile(_OwnFigure):
    """Base models of graded quality (each model, and each trained for a share of its SFT steps): the
    base model's score on ``quality`` against the weights' AUC and against ``method`` minus ``versus``
    on each panel benchmark, paired by seed (``tables/base_quality.py``)."""

    figure: str
    title: str
    method: str  # the method whose gain is measured
    versus: str  # the method it is compared with, seed by seed
    quality: str  # the benchmark whose base-model score is a model's quality
    budgets: tuple[float, ...]  # the graded models' SFT steps, as multiples of the world's recipe (itself: 1.0)
    panels: tuple[str, ...]  # benchmarks of the profile
    profiles: dict[str, BaseQualitySection]
    in_paper: bool = False


TableFileKind = TableFile | FigureFile | SweepFile | WeightQualityFile | BaseQualityFile


def read_table_file(path: str | os.PathLike) -> TableFileKind:
    """The file at ``path``, checked against its kind's schema; a fault names the file."""
    from aspo_repro.files import dataclass_from_mapping, read_yaml_mapping

    data = read_yaml_mapping(path, "table spec")
    kinds = [key for key in ("table", "figure") if key in data]
    if len(kinds) != 1:
        raise UserError(f"{path}: a table spec names exactly one of `table:` or `figure:`")
    if kinds[0] == "table":
        schema = TableFile
    else:
        schema = (SweepFile if "option" in data else BaseQualityFile if "budgets" in data
                  else WeightQualityFile if "versus" in data else FigureFile)
    return dataclass_from_mapping(schema, data, str(path))
