"""Sharded, resumable writing of preference pairs, and the final dataset.

Work goes into a hidden sibling of the output directory, ``.OUT.shards/``: a ``plan.json``
naming what is being built (its fingerprint) and one directory per shard of instructions,
``shard-START-END`` for the instruction positions ``[START, END)``. A shard appears only when
complete (``storage.atomic_directory``), so a restart skips finished shards and redoes at most
the one that was interrupted: no pair is lost or written twice. When every shard is there, the
shards are joined into the final dataset, which is renamed into place complete.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.files import dataclass_from_mapping, read_json_object, read_record, warn
from aspo_repro.storage import atomic_directory, atomic_write_json

PLAN_FILE = "plan.json"
SHARD_FILE = "shard.json"
MANIFEST_FILE = "manifest.json"
SHARD_DATA = "data"


@dataclass(frozen=True)
class ShardRange:
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"shard-{self.start:07d}-{self.end:07d}"

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class ShardCounts:
    """What one shard did with its instructions."""

    instructions: int = 0
    kept: int = 0
    dropped_identical: list[str] = field(default_factory=list)
    dropped_empty: list[str] = field(default_factory=list)
    sentences_scored: int = 0
    generation_seconds: float = 0.0
    scoring_seconds: float = 0.0
    wall_seconds: float = 0.0  # answering, scoring and image reading of the shard

    def merge(self, other: ShardCounts) -> None:
        self.instructions += other.instructions
        self.kept += other.kept
        self.dropped_identical += other.dropped_identical
        self.dropped_empty += other.dropped_empty
        self.sentences_scored += other.sentences_scored
        self.generation_seconds += other.generation_seconds
        self.scoring_seconds += other.scoring_seconds
        self.wall_seconds += other.wall_seconds


def plan_shards(total: int, shard_size: int) -> list[ShardRange]:
    if shard_size <= 0:
        raise UserError(f"--shard-size must be positive; got {shard_size}")
    return [ShardRange(start, min(start + shard_size, total)) for start in range(0, total, shard_size)]


def work_directory(out: Path) -> Path:
    return out.parent / f".{out.name}.shards"


def open_work_directory(out: Path, fingerprint: str, description: dict[str, Any], warn=warn) -> Path:
    """The shard directory for ``fingerprint``; refuses one left by a run with other settings.

    A damaged plan cannot say whose shards these are: they are reported and built again."""
    work = work_directory(out)
    plan_path = work / PLAN_FILE
    plan = read_record(plan_path, "shard plan", warn)
    if plan is None and work.exists():
        shutil.rmtree(work)
    if plan is not None:
        if plan.get("fingerprint") != fingerprint:
            raise UserError(
                f"{work} holds shards of an unfinished run with other settings; run that command again "
                f"to finish it, or delete {work} to start afresh"
            )
        return work
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(plan_path, {"fingerprint": fingerprint, "settings": description})
    return work


def finished_shards(work: Path, shards: Sequence[ShardRange], warn=warn) -> set[ShardRange]:
    """The shards whose record is there and readable (a damaged one is reported and redone)."""
    return {shard for shard in shards if read_record(work / shard.name / SHARD_FILE, "shard record", warn) is not None}


def rows_to_dataset(rows: list[dict[str, Any]], features):
    """A dataset of ``rows`` (possibly none) with ``features``."""
    from datasets import Dataset

    columns = {name: [row[name] for row in rows] for name in features}
    return Dataset.from_dict(columns, features=features)


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """No datasets progress bars inside (the pipeline shows its own), restored afterwards."""
    from datasets.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def write_shard(work: Path, shard: ShardRange, rows: list[dict[str, Any]], counts: ShardCounts, features) -> Path:
    """Write a shard's kept rows and counts; the shard directory appears only when complete."""
    with quiet_datasets(), atomic_directory(work / shard.name, replace=True) as tmp:
        if rows:  # datasets cannot read back an empty saved dataset
            rows_to_dataset(rows, features).save_to_disk(str(tmp / SHARD_DATA))
        atomic_write_json(tmp / SHARD_FILE, asdict(counts))
    return work / shard.name


def read_shard_counts(work: Path, shard: ShardRange) -> ShardCounts:
    path = work / shard.name / SHARD_FILE
    return dataclass_from_mapping(ShardCounts, read_json_object(path, "shard record"), f"shard record {path}")


def shard_datasets(work: Path, shards: Sequence[ShardRange]) -> Iterator:
    from datasets import load_from_disk

    for shard in shards:
        data = work / shard.name / SHARD_DATA
        if data.is_dir():
            yield load_from_disk(str(data))


def assemble(out: Path, work: Path, shards: Sequence[ShardRange], manifest: dict[str, Any]) -> Path:
    """Join the shards into the final dataset at ``out`` (renamed into place complete), then
    remove the shards. Shards must hold at least one pair between them."""
    from datasets import concatenate_datasets

    dataset = concatenate_datasets(list(shard_datasets(work, shards)))
    with quiet_datasets(), atomic_directory(out, replace=True) as tmp:
        dataset.save_to_disk(str(tmp))
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
    shutil.rmtree(work, ignore_errors=True)
    return out


def read_manifest(out: Path, warn=warn) -> dict[str, Any] | None:
    """The manifest of a finished dataset; None when there is none or it is damaged (reported)."""
    return read_record(out / MANIFEST_FILE, "preference manifest", warn)
