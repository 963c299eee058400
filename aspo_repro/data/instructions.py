"""Instruction data in the LLaVA-Instruct-150K format: reading, sampling and checking.

A source is a JSON list of records ``{"id", "image", "conversations": [{"from": "human",
"value": "<image>\\n..."}, {"from": "gpt", ...}, ...]}`` plus an image folder (COCO layout: the
record's ``image`` is a file name, or a relative path, under the folder). The SeVa pipeline asks
the model the record's first human question; the ``<image>`` token is removed from it (the chat
template puts the image back in the model's own way).

Every record is checked before any generation starts, so that ``--on-error stop`` stops before
anything is written: a malformed record, a record without a question, a missing image file and
an unreadable image each become a :class:`RecordProblem` naming the record's id.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.models.prompting import strip_image_placeholder

ON_ERROR_CHOICES = ("stop", "skip")
MAX_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class Instruction:
    """One instruction to answer: its record id, its image file and the question."""

    id: str
    image_path: Path
    prompt: str


@dataclass(frozen=True)
class RecordProblem:
    """Why a record cannot be used; ``id`` is the record's id (or its position when it has none)."""

    id: str
    reason: str

    def describe(self) -> str:
        return f"record {self.id}: {self.reason}"


@dataclass(frozen=True)
class InstructionSet:
    """The usable instructions of a source, in source order, and the records left out."""

    instructions: list[Instruction]
    problems: list[RecordProblem]
    total_records: int  # records in the source (before sampling)
    sampled_records: int  # records drawn (all of them when not sampling)


def read_instructions(
    json_path: str | Path,
    image_dir: str | Path,
    *,
    sample: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    check_images: bool = True,
    progress: bool = False,
) -> InstructionSet:
    """Read, sample (``sample`` records drawn with ``seed``, kept in source order) and check a source.

    ``limit`` keeps the first records after sampling (a quick trial run). Problems are returned,
    not raised: the caller applies its ``--on-error`` policy (:func:`apply_error_policy`).
    """
    records = load_records(json_path)
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UserError(f"image folder {image_dir} does not exist")
    chosen = sample_positions(len(records), sample, seed)
    if limit is not None:
        chosen = chosen[:limit]
    repeated = repeated_ids(records)
    instructions: list[Instruction] = []
    problems: list[RecordProblem] = []
    for position in _progress(chosen, progress, "checking instructions"):
        result = parse_record(records[position], position, image_dir, check_images=check_images)
        if isinstance(result, Instruction) and result.id in repeated:
            result = dataclasses.replace(result, id=f"{result.id}@{position}")
        (problems if isinstance(result, RecordProblem) else instructions).append(result)
    return InstructionSet(instructions, problems, total_records=len(records), sampled_records=len(chosen))


def repeated_ids(records: list[Any]) -> set[str]:
    """Ids held by more than one record. LLaVA-Instruct-150K's ids are COCO image ids, shared by
    the conversation, description and reasoning records of one image; such a record's pair is
    named ``<id>@<position in the source>``, so that every pair id is unique and stable."""
    counts = Counter(str(r.get("id")) for r in records if isinstance(r, dict) and r.get("id") is not None)
    return {record_id for record_id, count in counts.items() if count > 1}


def load_records(json_path: str | Path) -> list[Any]:
    from aspo_repro.files import read_json

    path = Path(json_path)
    records = read_json(path, "instruction file")
    if not isinstance(records, list):
        raise UserError(f"{path} must hold a JSON list of LLaVA-Instruct records, got {type(records).__name__}")
    return records


def sample_positions(total: int, sample: int | None, seed: int) -> list[int]:
    """Positions of ``sample`` records drawn without replacement with ``seed``, in source order."""
    if sample is None:
        return list(range(total))
    if sample <= 0:
        raise UserError(f"--sample must be positive; got {sample}")
    if sample > total:
        raise UserError(f"--sample {sample} is more than the {total} records of the source")
    return sorted(random.Random(seed).sample(range(total), sample))


def parse_record(record: Any, position: int, image_dir: Path, *, check_images: bool = True) -> Instruction | RecordProblem:
    """The record's instruction, or the problem that makes it unusable."""
    if not isinstance(record, dict):
        return RecordProblem(f"#{position}", f"malformed record: expected a JSON object, got {type(record).__name__}")
    record_id = record.get("id")
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or str(record_id) == "":
        return RecordProblem(f"#{position}", "malformed record: no 'id'")
    record_id = str(record_id)
    image = record.get("image")
    if not isinstance(image, str) or not image:
        return RecordProblem(record_id, "malformed record: no 'image' file name")
    question = first_question(record.get("conversations"))
    if question is None:
        return RecordProblem(record_id, "malformed record: 'conversations' must be a list of {from, value} turns")
    if not question:
        return RecordProblem(record_id, "instruction without a question (the first human turn is empty)")
    image_path = image_dir / image
    if check_images:
        problem = image_problem(image_path)
        if problem:
            return RecordProblem(record_id, problem)
    return Instruction(record_id, image_path, question)


def first_question(conversations: Any) -> str | None:
    """The first human turn without the image token, stripped; None when the turns are malformed."""
    if not isinstance(conversations, list) or not conversations:
        return None
    for turn in conversations:
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return None
        if turn.get("from") == "human":
            return strip_image_placeholder(turn["value"])
    return ""


def image_problem(path: Path) -> str | None:
    """Why the image at ``path`` cannot be used, or None. Decodes it fully (a truncated file fails)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return f"image file {path} does not exist"
    try:
        with Image.open(path) as image:
            image.load()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"image file {path} cannot be read ({error})"
    return None if width > 0 and height > 0 else f"image file {path} is empty"


def apply_error_policy(problems: Sequence[RecordProblem], on_error: str) -> None:
    """``stop``: any problem is a UserError naming the records; ``skip``: problems are counted only."""
    if on_error not in ON_ERROR_CHOICES:
        raise UserError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}; got {on_error!r}")
    if problems and on_error == "stop":
        shown = "; ".join(p.describe() for p in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        suffix = f"; and {more} more" if more > 0 else ""
        raise UserError(
            f"{len(problems)} unusable instruction record(s), nothing written: {shown}{suffix} "
            "(fix them, or pass --on-error skip to leave them out and count them)"
        )


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit="record")
