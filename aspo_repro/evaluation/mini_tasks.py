"""The document functions of the mini benchmarks' lmms-eval tasks (``tasks/mini_*``).

The tasks read the mini world's benchmark files; the runner points them at one world by the
data file in the task config and by ``ASPO_MINI_BENCHMARK_DIR`` (images are stored relative to
that directory). Prompts are built by the same functions the world's instruction data used
(``miniworld.questions``), so the models are asked exactly what they were trained on.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.evaluation import metrics
from aspo_repro.evaluation.shr import RuleJudge, shr_record

BENCHMARK_DIR_ENV = "ASPO_MINI_BENCHMARK_DIR"
POPE_METRICS = ("pope_f1", "pope_precision", "pope_recall", "pope_accuracy", "pope_yes_ratio")


def benchmark_dir() -> Path:
    value = os.environ.get(BENCHMARK_DIR_ENV)
    if not value:
        raise UserError(f"the mini benchmarks need {BENCHMARK_DIR_ENV} set to the world's benchmark "
                        "directory; `python -m aspo_repro evaluate` sets it for you")
    return Path(value)


@lru_cache(maxsize=4096)
def _load_image(path: str):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def doc_to_visual(doc: dict[str, Any]) -> list:
    path = benchmark_dir() / doc["image"]
    if not path.is_file():
        raise UserError(f"image {path} of benchmark document {doc.get('id')!r} is missing")
    return [_load_image(str(path))]


# ----------------------------------------------------------------------------- mini-POPE

def pope_split(dataset, split: str):
    return dataset.filter(lambda doc: doc["split"] == split)


def pope_doc_to_text(doc: dict[str, Any]) -> str:
    from aspo_repro.miniworld.questions import short_prompt

    return short_prompt(doc["question"])


def pope_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict]:
    from aspo_repro.miniworld.judge import parse_yes_no

    record = {"id": doc["id"], "prediction": parse_yes_no(results[0]) or metrics.OTHER,
              "answer": doc["answer"].strip().lower()}
    return {name: record for name in POPE_METRICS}


def pope_f1(records) -> float:
    return metrics.POPE_F1.score(records)


def pope_precision(records) -> float:
    return metrics.POPE_PRECISION.score(records)


def pope_recall(records) -> float:
    return metrics.POPE_RECALL.score(records)


def pope_accuracy(records) -> float:
    return metrics.POPE_ACCURACY.score(records)


def pope_yes_ratio(records) -> float:
    return metrics.POPE_YES_RATIO.score(records)


# ----------------------------------------------------------------------------- mini-GQA

def gqa_doc_to_text(doc: dict[str, Any]) -> str:
    from aspo_repro.miniworld.questions import short_prompt

    return short_prompt(doc["question"])


def gqa_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    from aspo_repro.miniworld.judge import normalise_short_answer

    return {"exact_match": float(normalise_short_answer(results[0]) == normalise_short_answer(str(doc["answer"])))}


# ----------------------------------------------------------------------------- mini-MMB

def rotate(options: list[str], answer: int, shift: int) -> tuple[list[str], int]:
    """The options moved ``shift`` places to the left, and where the right one lands."""
    return options[shift:] + options[:shift], (answer - shift) % len(options)


def mmb_rotations(dataset):
    """One document per rotation of each question's options (circular evaluation)."""
    import datasets

    rows = []
    for doc in dataset:
        for shift in range(len(doc["options"])):
            options, answer = rotate(list(doc["options"]), int(doc["answer"]), shift)
            rows.append({**doc, "question_id": doc["id"], "id": f"{doc['id']}#{shift}",
                         "rotation": shift, "options": options, "answer": answer})
    return datasets.Dataset.from_list(rows)


def mmb_doc_to_text(doc: dict[str, Any]) -> str:
    from aspo_repro.miniworld.questions import multiple_choice_prompt

    return multiple_choice_prompt(doc["question"], list(doc["options"]))


def mmb_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict]:
    from aspo_repro.miniworld.judge import parse_option

    choice = parse_option(results[0], list(doc["options"]))
    correct = choice == doc["answer"]
    return {"circular_accuracy": {"question_id": doc["question_id"], "rotation": doc["rotation"],
                                  "prediction": choice, "correct": correct},
            # each rotation on its own (what plain accuracy would give), for diagnosis
            "rotation_accuracy": float(correct)}


def circular_accuracy(records) -> float:
    return metrics.CIRCULAR_ACCURACY.score(records)


# ----------------------------------------------------------------------------- mini-SHR

def shr_doc_to_text(doc: dict[str, Any]) -> str:
    return doc["question"]


def shr_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict]:
    record = shr_record(results[0], doc, RuleJudge())
    return {"shr": record, "correct_per_image": record, "hallucinated_per_image": record}


def shr(records) -> float:
    return metrics.SHR.score(records)


def correct_per_image(records) -> float:
    return metrics.CORRECT_PER_IMAGE.score(records)


def hallucinated_per_image(records) -> float:
    return metrics.HALLUCINATED_PER_IMAGE.score(records)
