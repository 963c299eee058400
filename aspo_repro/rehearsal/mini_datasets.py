"""The mini world's benchmark questions written as the paper benchmarks' hub datasets.

The checkable rehearsal (``checkable.py``) asks the paper profile's evaluation path (lmms-eval's
own task code on hub datasets) the mini world's questions, whose answers are exact, so its
scores can be checked against the project's own mini evaluation of the same questions. The
datasets are written in each hub schema (``hub_schemas``) by ``hub_writer``; only the rows
differ from the paper rehearsal's made-up ones:

    mini_pope.jsonl  ->  POPE (default config: every question; Full: one split per category)
    mini_gqa.jsonl   ->  GQA (testdev_balanced instructions and their images)
    mini_mmb.jsonl   ->  MMBench dev, en and cn configs (the same questions: each task reads its
                         own config), each question with its circular copies; SEED-Bench and
                         ScienceQA-IMG (one row per question, the options in their stored order)
    mini_shr.jsonl   ->  SHR documents through the paper's ``prepare_shr_docs``, from HA-DPO and
                         Visual Genome files whose factual notes are the scene's objects as the
                         world's own sentences (what ``exact_judge`` reads back)

Images are the world's own PNG bytes (no JPEG round trip), so both paths see the same pixels.
Every row keeps the mini question's id where the schema has an id column (POPE ``question_id``,
GQA ``id``, SEED ``question_id``, MMBench ``index`` = question number + rotation x 1e6, SHR the
image id 1000 + question number); ScienceQA has none and is matched by row order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aspo_repro import storage
from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal.hub_schemas import LETTERS
from aspo_repro.rehearsal.hub_writer import StandinDataset, write_hub_dataset
from aspo_repro.rehearsal.standin_rows import Draw

BENCHMARK_FILES = ("mini_pope.jsonl", "mini_gqa.jsonl", "mini_mmb.jsonl", "mini_shr.jsonl")
LAYOUT_VERSION = 1  # bump when the rows change, so written copies are rewritten
SHR_IMAGE_ID_BASE = 1000


# ----------------------------------------------------------------------------- the questions

@dataclass(frozen=True)
class MiniQuestions:
    """The questions of a mini benchmark directory (``world/data/benchmarks`` or a subset of it)."""

    directory: Path
    pope: tuple[dict[str, Any], ...]
    gqa: tuple[dict[str, Any], ...]
    mmb: tuple[dict[str, Any], ...]
    shr: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, directory: Path) -> MiniQuestions:
        directory = Path(directory)
        return cls(directory, *(tuple(read_jsonl(directory / name)) for name in BENCHMARK_FILES))

    def image_bytes(self, relative: str) -> bytes:
        return _file_bytes(str(self.directory / relative))

    def image_value(self, relative: str) -> dict[str, Any]:
        """An ``Image()`` value holding the world's own file (PNG) unchanged."""
        return {"bytes": self.image_bytes(relative), "path": None}

    def fingerprint(self) -> str:
        return storage.stable_hash([storage.sha256_file(self.directory / name) for name in BENCHMARK_FILES])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    from aspo_repro.errors import UserError

    if not path.is_file():
        raise UserError(f"{path} does not exist: is {path.parent} a mini world's benchmark directory?")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=4096)
def _file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def write_subset(source: Path, out: Path, questions: int) -> Path:
    """The first ``questions`` questions of each mini benchmark file in ``source`` (mini-POPE: of
    each split) with their images, as a benchmark directory ``out``; kept when already written."""
    source, out = Path(source), Path(out)
    stamp = {"layout": LAYOUT_VERSION, "questions": questions, "source": MiniQuestions.load(source).fingerprint()}
    stamp_path = out / ".subset.json"
    if stamp_path.is_file() and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp:
        return out
    with storage.atomic_directory(out, replace=True) as tmp:
        for name in BENCHMARK_FILES:
            kept = first_questions(read_jsonl(source / name), questions)
            (tmp / name).write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in kept), encoding="utf-8")
            for row in kept:
                target = tmp / row["image"]
                if not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source / row["image"], target)
        storage.atomic_write_json(tmp / ".subset.json", stamp)
    return out


def first_questions(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows, or of each ``split`` where the rows have splits (mini-POPE)."""
    taken: dict[Any, int] = {}
    kept = []
    for row in rows:
        split = row.get("split")
        if taken.get(split, 0) < count:
            taken[split] = taken.get(split, 0) + 1
            kept.append(row)
    return kept


# ----------------------------------------------------------------------------- rows

def pope_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    """POPE rows of one split (``test``: every category). lmms-eval's pope/utils.py reads
    ``image``, ``question``, ``answer`` and ``question_id`` (here the mini question's id)."""
    chosen = [q for q in questions.pope if split == "test" or q["split"] == split]
    return [{"id": str(k), "question_id": q["id"], "question": q["question"], "answer": q["answer"],
             "image_source": Path(q["image"]).stem, "image": questions.image_value(q["image"]),
             "category": q["split"]} for k, q in enumerate(chosen)]


def gqa_instruction_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    """GQA questions: ``id`` the mini id, ``imageId`` the image's stem (joined to the images
    config by gqa_process_docs), ``question``, ``answer`` (lmms-eval's exact_match target)."""
    return [{"id": q["id"], "imageId": Path(q["image"]).stem, "question": q["question"], "answer": q["answer"],
             "fullAnswer": q["answer"], "isBalanced": True, "groups": {"global": None, "local": None},
             "entailed": "[]", "equivalent": f"['{q['id']}']",
             "types": {"structural": "query", "semantic": q.get("type"), "detailed": q.get("type")},
             "annotations": {"answer": [], "question": [], "fullAnswer": []}, "semantic": [],
             "semanticStr": ""} for q in questions.gqa]


def gqa_image_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    images = dict.fromkeys(q["image"] for q in questions.gqa)
    return [{"id": Path(image).stem, "image": questions.image_value(image)} for image in images]


def scienceqa_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    """mini-MMB's questions as ScienceQA-IMG: ``choices`` the options, ``answer`` the right
    one's index, no hint (so no "Context:" line); the rest of the schema left empty."""
    return [{"image": questions.image_value(q["image"]), "question": q["question"], "choices": list(q["options"]),
             "answer": int(q["answer"]), "hint": "", "task": "closed choice", "grade": "", "subject": "mini world",
             "topic": "", "category": "", "skill": "", "lecture": "", "solution": ""} for q in questions.mmb]


def seedbench_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    """mini-MMB's questions as SEED-Bench image questions: ``choice_a``..``choice_d`` the options,
    ``answer`` the right letter, ``question_id`` the mini id."""
    return [{"answer": LETTERS[int(q["answer"])], **{f"choice_{c.lower()}": o for c, o in zip(LETTERS, q["options"])},
             "data_id": q["image"], "data_type": "image", "question": q["question"], "question_id": q["id"],
             "question_type_id": 0, "image": [questions.image_value(q["image"])], "segment": None}
            for q in questions.mmb]


def mmbench_rows(questions: MiniQuestions, split: str) -> list[dict[str, Any]]:
    """mini-MMB's questions as MMBench rows: question ``i`` rotated ``r`` places (mini-MMB's
    rotation, ``mini_tasks.rotate``) at ``index`` i + r x 1e6; no hint. The test split's answers
    are withheld, as on the hub."""
    from aspo_repro.evaluation.mini_tasks import rotate

    rows = []
    for i, q in enumerate(questions.mmb):
        for r in range(len(q["options"])):
            options, answer = rotate(list(q["options"]), int(q["answer"]), r)
            rows.append({"index": i + r * ROTATION_OFFSET, "question": q["question"], "hint": None,
                         "answer": LETTERS[answer] if split == "dev" else None,
                         **{c: (options[k] if k < len(options) else None) for k, c in enumerate(LETTERS)},
                         "category": "mini_world", "image": questions.image_value(q["image"]), "source": q["id"],
                         "L2-category": "mini_world", "comment": None, "split": split})
    return rows


def _rows(function: Callable[[MiniQuestions, str], list], questions: MiniQuestions):
    return lambda draw, split, n: function(questions, split)


def mini_hub_datasets(questions: MiniQuestions) -> tuple[StandinDataset, ...]:
    """The hub datasets of the paper benchmarks that have exact answers, with the mini rows."""
    def rows(**by_config: Callable[[MiniQuestions, str], list]) -> dict[str, Callable]:
        return {config: _rows(function, questions) for config, function in by_config.items()}

    return (
        StandinDataset("lmms-lab-encoder/POPE", rows(default=pope_rows, Full=pope_rows), image_format="PNG"),
        StandinDataset("lmms-lab-encoder/GQA", rows(testdev_balanced_instructions=gqa_instruction_rows,
                                                    testdev_balanced_images=gqa_image_rows), image_format="PNG"),
        StandinDataset("lmms-lab-encoder/ScienceQA", rows(**{"ScienceQA-IMG": scienceqa_rows}), image_format="PNG"),
        StandinDataset("lmms-lab-encoder/SEED-Bench", rows(default=seedbench_rows), image_format="PNG"),
        StandinDataset("lmms-lab-encoder/MMBench", rows(cn=mmbench_rows, en=mmbench_rows), image_format="PNG"),
    )


def write_mini_datasets(root: Path, questions: MiniQuestions) -> dict[str, Path]:
    """Every dataset of :func:`mini_hub_datasets` under ``root/<owner>/<name>``; {hub id: directory}.
    A copy written from the same questions is kept."""
    written = {}
    for dataset in mini_hub_datasets(questions):
        stamp = {"layout": LAYOUT_VERSION, "hub_id": dataset.hub_id, "questions": questions.fingerprint()}
        draw = Draw(0, dataset.hub_id, (), dataset.image_format)
        written[dataset.hub_id] = write_hub_dataset(root, dataset, draw, 0, stamp)
    return written


# ----------------------------------------------------------------------------- SHR

def shr_facts(scene: dict[str, Any]) -> list[str]:
    """HA-DPO's factual notes of a scene: each object as the world's own sentence, size included."""
    from aspo_repro.miniworld.grammar import object_sentence
    from aspo_repro.miniworld.scene import Scene

    return [object_sentence(obj, with_size=True) for obj in Scene.from_dict(scene).objects]


def shr_regions(scene: dict[str, Any], width: int, height: int) -> list[dict[str, Any]]:
    """Visual Genome regions of a scene: each object's grid cell as its box, ``colour shape``."""
    from aspo_repro.miniworld import lexicon
    from aspo_repro.miniworld.scene import Scene

    cell_w, cell_h = width // lexicon.GRID, height // lexicon.GRID
    return [{"x": obj.column * cell_w, "y": obj.row * cell_h, "width": cell_w, "height": cell_h,
             "phrase": obj.name} for obj in Scene.from_dict(scene).objects]


def write_shr_documents(out: Path, questions: MiniQuestions) -> Path:
    """The ``shr`` task's documents for mini-SHR's questions, through the paper's ``prepare_shr_docs``
    from HA-DPO's and Visual Genome's files (written beside ``out`` in ``sources/``). Kept when
    written from the same questions."""
    from PIL import Image

    from aspo_repro.evaluation.shr import prepare_shr_docs

    out = Path(out)
    stamp_path = out.with_suffix(".stamp.json")
    stamp = {"layout": LAYOUT_VERSION, "questions": questions.fingerprint()}
    if out.is_file() and stamp_path.is_file() and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp:
        return out
    shr_dir, vg_dir = out.parent / "sources" / "shr", out.parent / "sources" / "vg"
    entries, images, regions, factual = [], [], [], {}
    for i, question in enumerate(questions.shr):
        image_id = SHR_IMAGE_ID_BASE + i
        suffix = Path(question["image"]).suffix
        storage.atomic_write_bytes(vg_dir / "VG_100K" / f"{image_id}{suffix}", questions.image_bytes(question["image"]))
        with Image.open(questions.directory / question["image"]) as picture:
            width, height = picture.size
        entries.append({"image_id": image_id})
        images.append({"image_id": image_id, "width": width, "height": height,
                       "url": f"https://cs.stanford.edu/people/rak248/VG_100K/{image_id}{suffix}"})
        regions.append({"regions": [{"image_id": image_id, **region}
                                    for region in shr_regions(question["scene"], width, height)]})
        factual[str(image_id)] = shr_facts(question["scene"])
    storage.atomic_write_text(shr_dir / "val_images_final.json", json.dumps(entries))
    storage.atomic_write_text(shr_dir / "shr_factual_part1.jsonl", "".join(json.dumps({k: v}) + "\n" for k, v in factual.items()))
    storage.atomic_write_text(shr_dir / "shr_factual_part2.jsonl", "")
    storage.atomic_write_text(vg_dir / "image_data.json", json.dumps(images))
    storage.atomic_write_text(vg_dir / "region_descriptions.json", json.dumps(regions))
    prepare_shr_docs(shr_dir, vg_dir, out)
    storage.atomic_write_json(stamp_path, stamp)
    return out
