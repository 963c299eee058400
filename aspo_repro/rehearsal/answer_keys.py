"""The answer keys of the stand-in submission benchmarks: what the MMBench server keeps of its test
split (the answer of every row, rotations included, by index), written beside the stand-in datasets
and read by the stand-in of that server (``submission_server.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aspo_repro import storage
from aspo_repro.rehearsal.standin_rows import Draw, mmbench_questions

ANSWER_KEYS = {"mmbench_en_test": ("lmms-lab-encoder/MMBench", "en", "test")}  # task: (hub id, language, split)


def answer_key_path(root: Path, task: str) -> Path:
    """Where the stand-in answer key of a submission task lies (outside every dataset copy)."""
    return Path(root) / "answer_keys" / f"{task}.json"


def write_answer_keys(root: Path, draws: Mapping[str, Draw], rows: int) -> None:
    """The key of every task of :data:`ANSWER_KEYS`, from the questions its dataset was written
    from (``draws``: {hub id: what its rows were drawn from})."""
    for task, (hub_id, language, split) in ANSWER_KEYS.items():
        key = {str(row["index"]): row["answer"] for row in mmbench_questions(draws[hub_id], split, rows, language)}
        storage.atomic_write_json(answer_key_path(root, task), key)
