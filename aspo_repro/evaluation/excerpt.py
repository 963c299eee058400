"""The first answers of each task of a benchmark run, kept beside ``eval.json``
(``<out stem>.lmms_eval.excerpt/<benchmark>.json``) in lmms-eval's own output schema, cut to what
the report's side-by-side view shows (``report/samples.py``): the question, the expected answer, the
image, the model's answer and the judge's per-sentence verdicts or parsed prediction. The whole raw
output (``<out stem>.lmms_eval/``, hundreds of kilobytes a run) stays out of the committed
references; the excerpt (a few kilobytes) goes with them, so a report made from a fresh clone shows
the committed runs' answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aspo_repro import storage

ITEMS_PER_TASK = 12
KEPT = ("doc_id", "target", "input_media", "filtered_resps")
JUDGED = ("verdicts", "prediction")  # what a metric's per-sample record holds of its judgement


def excerpt_dir(raw_dir: Path) -> Path:
    return raw_dir.with_name(f"{raw_dir.name}.excerpt")


def excerpt(output: dict[str, Any], per_task: int = ITEMS_PER_TASK) -> dict[str, Any]:
    """lmms-eval's output with only each task's first ``per_task`` samples, each cut to what is shown."""
    samples = output.get("samples") or {}
    return {"samples": {task: [_cut(sample) for sample in task_samples[:per_task]]
                        for task, task_samples in sorted(samples.items())}}


def _cut(sample: dict[str, Any]) -> dict[str, Any]:
    kept = {key: sample[key] for key in KEPT if key in sample}
    kept["arguments"] = [(sample.get("arguments") or [""])[0]]
    for key, value in sample.items():
        if isinstance(value, dict) and any(field in value for field in JUDGED):
            kept[key] = {field: value[field] for field in JUDGED if field in value}
    return kept


def write_excerpt(raw_dir: Path, benchmark: str, output: dict[str, Any]) -> Path:
    path = excerpt_dir(raw_dir) / f"{benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    storage.atomic_write_json(path, {"output": excerpt(output)})
    return path
