"""A training run's output directory: who owns it (its run key and, while a process trains into
it, its lock), where to resume, how outputs are published.

The layout::

    OUT/checkpoints/   while training: Trainer checkpoints and run-key.json; removed at the end
                       (unless keep_checkpoints)
    OUT/tensorboard/   when asked for
    OUT/adapter/       the LoRA adapter (PEFT ``save_pretrained``)
    OUT/merged/        base model with the adapter merged, and the processor: ``from_pretrained``-loadable
    OUT/metrics.jsonl  one line per logged step: loss, rewards, margins, accuracy, unit weights, c
    OUT/run.json       method, model, config, seed, data fingerprint, provenance; written last,
                       with ``status: complete``

Every final output appears by an atomic rename (``aspo_repro.storage``) and ``run.json`` comes
last, so a directory without it is unfinished, whatever else it holds. ``run-key.json`` names the
settings the checkpoints belong to, so a run resumes only its own checkpoints; a checkpoint is
complete once its ``trainer_state.json`` is written, the Trainer's last step of saving one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.files import read_record

CHECKPOINTS = "checkpoints"
RUN_KEY = "run-key.json"
RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
ADAPTER = "adapter"
MERGED = "merged"
KNOWN_ENTRIES = {CHECKPOINTS, "tensorboard", ADAPTER, MERGED, METRICS, RUN_JSON}


@dataclass(frozen=True)
class RunDirectory:
    """The output directory of one run, identified by its run key (a hash of its settings)."""

    path: Path
    run_key: str

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER

    @property
    def adapter_staging(self) -> Path:
        """Where the Trainer saves the adapter before ``publish_adapter`` renames it into place."""
        return storage.staging_path(self.adapter)

    # ------------------------------------------------------------------ before training
    def finished_record(self, log: Callable[[str], None] = print) -> dict[str, Any] | None:
        """The run.json of a finished run of this key; an error if the directory holds anything else.

        A damaged run.json is reported and the run counts as unfinished; damaged checkpoints' run
        key cannot say whose they are, so they are reported and removed (the run starts from step 0).
        """
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {self.path} is a file, not a directory")
        record = read_record(self.path / RUN_JSON, "training run record", log)
        if record is not None:
            if record.get("status") == "complete" and record.get("run_key") == self.run_key:
                return record
            raise UserError(
                f"{self.path} holds a finished run with other settings ({_describe(record)}); "
                "choose another --out or delete it"
            )
        key = self._checkpoints_key(log)
        if key is not None and key.get("run_key") != self.run_key:
            raise UserError(
                f"{self.path} holds an unfinished run with other settings; delete {self.checkpoints} "
                "to start this one, or choose another --out"
            )
        strangers = self._strangers()
        if strangers and key is None:
            raise UserError(
                f"--out {self.path} already holds other files ({', '.join(strangers[:5])}); "
                "choose an empty directory"
            )
        return None

    def _checkpoints_key(self, log) -> dict[str, Any] | None:
        key_path = self.checkpoints / RUN_KEY
        key = read_record(key_path, "checkpoint run key", log)
        if key is None and key_path.exists():
            log(
                f"warning: removing {self.checkpoints}: its run key is damaged, so it may hold "
                "another run's checkpoints"
            )
            shutil.rmtree(self.checkpoints)
        return key

    def _strangers(self) -> list[str]:
        entries = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        return [name for name in entries if name not in KNOWN_ENTRIES and not name.startswith(".")]

    def claim(self, identity: dict[str, Any]):
        """Mark the directory as this run's: take its lock, drop what a killed run left
        half-written, write the run key beside the checkpoints.

        Returns the lock, to hold while training and ``release()`` after (it also goes with the
        process): a second process claiming the directory meanwhile gets a UserError.
        """
        lock = storage.hold_lock(storage.lock_path(self.path), f"the training run {self.path}")
        try:
            storage.remove_temporaries(self.path)
            storage.atomic_write_json(self.checkpoints / RUN_KEY, {"run_key": self.run_key, **identity})
            last_complete_checkpoint(self.checkpoints, remove_incomplete=True)
        except BaseException:
            lock.release()
            raise
        return lock

    def resume_point(self) -> Path | None:
        """The newest complete checkpoint, or None to start from step 0."""
        return last_complete_checkpoint(self.checkpoints)

    # ------------------------------------------------------------------ after training
    def publish_adapter(self) -> Path:
        return storage.replace_directory(self.adapter_staging, self.adapter)

    @contextlib.contextmanager
    def merged_model(self) -> Iterator[Path]:
        """A directory to write the merged model into; it becomes ``merged/`` once complete."""
        with storage.atomic_directory(self.path / MERGED, replace=True) as tmp:
            yield tmp

    def write_metrics(self, steps: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in steps)
        storage.atomic_write_text(self.path / METRICS, lines)

    def write_record(self, record: dict[str, Any]) -> None:
        """run.json: the last write, which makes the run finished."""
        storage.atomic_write_json(self.path / RUN_JSON, record)

    def remove_checkpoints(self, keep: bool = False) -> None:
        if not keep:
            shutil.rmtree(self.checkpoints, ignore_errors=True)


def _describe(record: dict[str, Any]) -> str:
    def name(section: str) -> str:
        value = record.get(section)
        return str(value.get("name", "?")) if isinstance(value, dict) else "?"

    return f"method {name('method')}, model {name('model')}"


def record_of_merged_model(model_dir: Path, log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """The run.json of the run whose merged model ``model_dir`` is (its ``merged/``); None for any other
    directory, or a run without one (a damaged one is reported)."""
    model_dir = Path(model_dir)
    if model_dir.name != MERGED:
        return None
    return read_record(model_dir.parent / RUN_JSON, "training run record", log)


def last_complete_checkpoint(directory: Path, remove_incomplete: bool = False) -> Path | None:
    """The newest ``checkpoint-N`` with its ``trainer_state.json`` (the last file a save writes)."""
    if not directory.is_dir():
        return None
    checkpoints = sorted(
        (p for p in directory.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    complete = [p for p in checkpoints if (p / "trainer_state.json").is_file()]
    if remove_incomplete:
        for partial in set(checkpoints) - set(complete):
            shutil.rmtree(partial, ignore_errors=True)
    return complete[-1] if complete else None
