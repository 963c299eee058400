"""Damaged copies of real files, and running a command as a user does, for the bad-input tests."""

from __future__ import annotations

import contextlib
import io
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

ARROW = "data-00000-of-00001.arrow"
SMOKE_RESULTS = Path(__file__).resolve().parents[2] / "results" / "smoke" / "world1"  # committed, real eval.json files


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    exception: BaseException | None = None

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def run_main(argv: list[str]) -> Outcome:
    """``python -m aspo_repro ARGV`` in this process; an exception escaping ``main`` is a traceback."""
    from aspo_repro.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return Outcome(exit_.code if isinstance(exit_.code, int) else 2, out.getvalue(), err.getvalue())
    except BaseException as error:  # noqa: BLE001 - what a user would see as a traceback
        return Outcome(None, out.getvalue(), err.getvalue(), error)
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_one_line_error(outcome: Outcome, *names: str | Path) -> str:
    """Exit 2, one error line naming each of ``names``, no traceback; the line."""
    assert outcome.exception is None, f"traceback: {type(outcome.exception).__name__}: {outcome.exception}"
    assert "Traceback" not in outcome.err + outcome.out
    assert outcome.code == 2, (outcome.code, outcome.err)
    assert len(outcome.error_lines) == 1, outcome.err
    line = outcome.error_lines[0]
    for name in names:
        assert str(name) in line, (name, line)
    return line


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# ------------------------------------------------------------------ preference directories
def rebuild(source: Path, target: Path, change) -> Path:
    """A copy of the preference directory ``source`` whose rows and features are
    ``change(rows, features)``, written by datasets as ``prefs`` writes (images as {bytes, path})."""
    from datasets import Dataset, Image, List, load_from_disk

    features = load_from_disk(str(source)).features.copy()
    rows = load_from_disk(str(source)).cast_column("images", List(Image(decode=False))).to_list()
    rows, features = change(rows, features)
    columns = {name: [row[name] for row in rows] for name in features}
    Dataset.from_dict(columns, features=features).save_to_disk(str(target))
    shutil.copy(source / "manifest.json", target / "manifest.json")
    return target


def rewrite_arrow(directory: Path, change) -> None:
    """Change the Arrow rows in place (``change(rows) -> rows``), past datasets' own checks: for
    values datasets would refuse to write, such as an image path that does not exist."""
    import pyarrow as pa

    path = directory / ARROW
    table = pa.ipc.open_stream(pa.BufferReader(path.read_bytes())).read_all()
    new = pa.Table.from_pylist(change(table.to_pylist()), schema=table.schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, new.schema) as writer:
        writer.write_table(new)


def set_first(column: str, value):
    def change(rows, features):
        rows[0][column] = value
        return rows, features

    return change


def first_image(image: dict):
    return set_first("images", [image])


def drop_column(column: str):
    def change(rows, features):
        del features[column]
        return rows, features

    return change


def images_as_strings(rows, features):
    from datasets import List, Value

    for row in rows:
        row["images"] = ["image.png"]
    features["images"] = List(Value("string"))
    return rows, features


def no_rows(rows, features):
    return [], features


def image_path_only(path: str):
    def change(rows):
        rows[0]["images"] = [{"bytes": None, "path": path}]
        return rows

    return change


def replace_bytes(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, f"{old!r} not in {path}"
    path.write_bytes(data.replace(old, new, 1))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def first_image_bytes(directory: Path) -> bytes:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.BufferReader((directory / ARROW).read_bytes())).read_all()
    return table.column("images")[0].as_py()[0]["bytes"]


# ------------------------------------------------------------------ random damage (fuzz)
def damage(data: bytes, rng: random.Random) -> bytes:
    """One random corruption: flipped bytes, a truncation, a zeroed run, inserted junk or a swap."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    kind = rng.choice(("flip", "truncate", "zero", "insert", "cut"))
    buffer = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    elif kind == "truncate":
        del buffer[rng.randrange(len(buffer)):]
    elif kind == "zero":
        start = rng.randrange(len(buffer))
        buffer[start:start + rng.randint(1, 64)] = bytes(len(buffer[start:start + rng.randint(1, 64)]))
    elif kind == "insert":
        at = rng.randrange(len(buffer) + 1)
        buffer[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    else:
        start = rng.randrange(len(buffer))
        del buffer[start:start + rng.randint(1, 64)]
    return bytes(buffer)


def train_args(model_dir: Path, prefs: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--method", "dpo", "--model", str(model_dir), "--prefs", str(prefs), "--out", str(out),
            "--max-steps", "1", *extra]
