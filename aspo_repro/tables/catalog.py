"""Which tables and figures exist: the YAML files in ``configs/tables/``, nothing else.

A file holds one table (``table: "1"``) or one figure (``figure: figure3``), read by
``table_file``; its name is what ``--table`` takes. Adding a table is adding its file (and its published rows to
``baselines/published.csv``); every list of tables (``--help``, ``--table all``, the published
numbers' schema) is read from here. A file with ``in_paper: false`` (the mini world's
learning-rate sweep) is a study of this project, not of the paper: ``--table all`` leaves it out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.repository import REPO_ROOT
from aspo_repro.tables.table_file import read_table_file

SPEC_DIR = REPO_ROOT / "configs" / "tables"
_TABLE_ALIAS = re.compile(r"(?:table|tab|t)(\w+)")
_FIGURE_ALIAS = re.compile(r"(?:figure|fig|f)(\d+)")


@dataclass(frozen=True)
class Entry:
    """One table or figure: its name, whether it is a figure, and its file."""

    name: str
    is_figure: bool
    path: Path
    in_paper: bool  # one of the paper's tables and figures (``--table all``)
    profiles: tuple[str, ...]  # the profiles it has a section for


@cache
def _entries(directory: Path) -> tuple[Entry, ...]:
    entries = []
    for path in sorted(directory.glob("*.yaml")):
        file = read_table_file(path)
        entries.append(Entry(file.key, file.is_figure, path, file.in_paper, tuple(file.profiles)))
    names = [entry.name for entry in entries]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise UserError(f"{directory}: more than one spec for {', '.join(duplicated)}")
    return tuple(sorted(entries, key=lambda e: (e.is_figure, _natural(e.name))))


def _natural(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def entries(spec_dir: str | os.PathLike | None = None) -> tuple[Entry, ...]:
    return _entries(Path(spec_dir) if spec_dir else SPEC_DIR)


def table_names(spec_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The tables (not figures), in order: ``("1", "2", "5", "6")`` for the paper."""
    return tuple(e.name for e in entries(spec_dir) if not e.is_figure)


def tables_on_profiles(spec_dir: str | os.PathLike | None = None) -> tuple[tuple[str, str], ...]:
    """Each table (not figure) with each profile it has: ``(("1", "paper"), ("1", "mini"), ...)``."""
    return tuple((e.name, profile) for e in entries(spec_dir) if not e.is_figure for profile in e.profiles)


def known_names(spec_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Every table, then every figure."""
    return tuple(e.name for e in entries(spec_dir))


def paper_names(spec_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The paper's tables and figures: what ``--table all`` means."""
    return tuple(e.name for e in entries(spec_dir) if e.in_paper)


def requested_names(requested: list[str], spec_dir: str | os.PathLike | None = None) -> list[str]:
    """The tables ``--table`` flags name (repeatable, comma-separated, ``all`` for the paper's), in order, once each."""
    tables: list[str] = []
    for item in requested:
        for name in item.split(","):
            tables.extend(paper_names(spec_dir) if name.strip().lower() == "all" else [name.strip()])
    return list(dict.fromkeys(tables))


def choices_help(spec_dir: str | os.PathLike | None = None) -> str:
    """``1, 2, 5, 6, figure3, lr-sweep, weight-quality, or all`` (the paper's): what ``--table`` takes."""
    return f"{', '.join(known_names(spec_dir))}, or all (the paper's: {', '.join(paper_names(spec_dir))})"


def find(table: str | int, spec_dir: str | os.PathLike | None = None) -> Entry:
    """The entry ``table`` names: its name, or ``table1`` / ``fig3`` for ``1`` / ``figure3``."""
    known = {e.name: e for e in entries(spec_dir)}
    name = str(table).strip().lower()
    for candidate in (name, *_aliased(name)):
        if candidate in known:
            return known[candidate]
    raise unknown_name("table", str(table), list(known))


def _aliased(name: str) -> list[str]:
    aliases = []
    figure = _FIGURE_ALIAS.fullmatch(name)
    if figure:
        aliases.append(f"figure{figure.group(1)}")
    table = _TABLE_ALIAS.fullmatch(name)
    if table:
        aliases.append(table.group(1))
    return aliases
