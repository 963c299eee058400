"""The paper's published numbers (``baselines/published.csv``), loaded and checked against their schema.

Long form, one row per number of Tables 1, 2, 5 and 6: ``table,model,method,level,benchmark,value``.
A dash in the paper is no row. The published Avg is a row with benchmark ``avg``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from aspo_repro.errors import UserError
from aspo_repro.methods import GRANULARITIES
from aspo_repro.profile_kinds import published_profile
from aspo_repro.results import BASE_METHOD, PAPER_BENCHMARKS
from aspo_repro.tables.catalog import REPO_ROOT, entries, table_names
from aspo_repro.tables.table_file import read_table_file

if TYPE_CHECKING:
    import pandas as pd

PUBLISHED_CSV = REPO_ROOT / "baselines" / "published.csv"

COLUMNS = ("table", "model", "method", "level", "benchmark", "value")
KEY_COLUMNS = COLUMNS[:-1]
AVERAGE = "avg"  # the paper's Avg column: a published number, not a benchmark that is run
PUBLISHED_BENCHMARKS = (*PAPER_BENCHMARKS, AVERAGE)
LEVELS = ("", *GRANULARITIES)  # none, or the granularity of the reward (Tables 2 and 6)
_SLUG = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")


@dataclass(frozen=True)
class RowKey:
    """A row of a published table: which model, method and (Tables 2 and 6) reward level."""

    table: str
    model: str
    method: str
    level: str = ""


@cache
def published_methods() -> tuple[str, ...]:
    """The methods a published row may name: the base models' (every row's change is measured
    against its base), and those whose published rows a table or figure file reads on the paper's
    profile: the paper's own, named as the method registry names them, and Table 2's rows of other
    papers (``published_only``), as slugs of their row labels. The files state these rows once."""
    profile = published_profile().name
    read = (method for entry in entries() for method in read_table_file(entry.path).published_methods(profile))
    return tuple(dict.fromkeys((BASE_METHOD, *read)))


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The published numbers as a DataFrame (``value`` a float), validated against the schema."""
    import pandas as pd

    path = Path(path) if path else PUBLISHED_CSV
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"no published numbers at {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a readable CSV ({error})") from None
    problems = schema_problems(frame)
    if problems:
        listing = "\n  ".join(problems[:20])
        raise UserError(f"{path} does not match the published-numbers schema:\n  {listing}")
    return frame.assign(value=frame["value"].astype(float))


def schema_problems(frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` (read as strings) breaks the schema; empty when it is valid."""
    if tuple(frame.columns) != COLUMNS:
        return [f"columns must be {','.join(COLUMNS)}; got {','.join(map(str, frame.columns))}"]
    allowed = {"table": table_names(), "method": published_methods(), "level": LEVELS, "benchmark": PUBLISHED_BENCHMARKS}
    problems = []
    for index, row in frame.iterrows():
        line = f"line {index + 2}"
        for column, known in allowed.items():
            if row[column] not in known:
                problems.append(f"{line}: {column} {row[column]!r} is not one of {', '.join(filter(None, known))}")
        if not _SLUG.fullmatch(row["model"]):
            problems.append(f"{line}: model {row['model']!r} is not a lower-case slug")
        if not _is_score(row["value"]):
            problems.append(f"{line}: value {row['value']!r} is not a number in [0, 100]")
    duplicated = frame[frame.duplicated(list(KEY_COLUMNS), keep=False)]
    for _, row in duplicated.drop_duplicates(list(KEY_COLUMNS)).iterrows():
        problems.append(f"duplicate cell: {', '.join(f'{c}={row[c]}' for c in KEY_COLUMNS)}")
    return problems


def _is_score(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return 0.0 <= value <= 100.0


def published_row(frame: pd.DataFrame, row: RowKey) -> dict[str, float]:
    """{benchmark: value} of one published row; empty when the paper has no such row."""
    match = frame[
        (frame["table"] == row.table) & (frame["model"] == row.model)
        & (frame["method"] == row.method) & (frame["level"] == row.level)
    ]
    return dict(zip(match["benchmark"], match["value"]))
