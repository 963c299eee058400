"""From lmms-eval's output to one score per benchmark on the paper's 0-100 scale.

A benchmark's value is the mean of its tasks' metric times the registry's ``scale``; its
standard error, where lmms-eval reports one for every task, is that of the mean of independent
estimates, sqrt(sum se_i^2) / k, on the same scale. A benchmark that could not be scored (no
judge key, a server-scored split, no judgeable sentence) is *missing* with the reason, never 0.
"""

from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass, field
from typing import Any

from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.metrics import METRICS
from aspo_repro.results import BenchmarkScore

FILTER = "none"  # lmms-eval's key suffix for metrics without a filter pipeline
# lmms-eval 0.7.3's GPT judge for mmvet and llava_in_the_wild: MODEL_VERSION, with this default.
LMMS_JUDGE_ENV = "MODEL_VERSION"
LMMS_DEFAULT_JUDGE = "gpt-4o-2024-11-20"
# lmms-eval's judges (mmvet, llava_in_the_wild, MMBench) post to this address; OpenAI's when unset.
LMMS_JUDGE_URL_ENV = "OPENAI_API_URL"
LMMS_DEFAULT_JUDGE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Outcome:
    benchmark: str
    score: BenchmarkScore | None
    missing: str | None = None  # why there is no score
    details: dict[str, Any] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def task_metrics(raw: dict[str, Any], task: str) -> dict[str, Any]:
    """A task's metrics without lmms-eval's ``,none`` suffix (``pope_f1``, ``pope_f1_stderr``...)."""
    entry = raw.get("results", {}).get(task, {})
    return {key.rsplit(",", 1)[0]: value for key, value in entry.items()
            if key.endswith(f",{FILTER}") and value != "N/A"}


def sample_count(raw: dict[str, Any], task: str) -> int | None:
    counts = raw.get("n-samples", {}).get(task, {})
    value = counts.get("effective", counts.get("original"))
    return int(value) if value is not None else None


def judge_name(benchmark: Benchmark, raw: dict[str, Any]) -> str | None:
    """The judge model and version that scored the answers, where a model judged them."""
    if benchmark.judge == "rule":
        return "mini-world rule judge (exact)"
    if benchmark.judged_by_own_gpt_judge:
        names = {record.get("judge") for task in benchmark.tasks for sample in raw.get("samples", {}).get(task, [])
                 for record in [sample.get(benchmark.metric) or {}] if isinstance(record, dict)}
        names.discard(None)
        return ", ".join(sorted(names)) or None
    if benchmark.needs_api_key:
        asked = os.environ.get(LMMS_JUDGE_ENV, LMMS_DEFAULT_JUDGE)
        served = sorted(served_judges(benchmark, raw) - {asked})
        answered = f" (answered as {', '.join(served)})" if served else ""
        return f"{asked}{answered} via {os.environ.get(LMMS_JUDGE_URL_ENV, LMMS_DEFAULT_JUDGE_URL)}"
    return None


def served_judges(benchmark: Benchmark, raw: dict[str, Any]) -> set[str]:
    """The model names the judge's replies reported, where lmms-eval logs them (mmvet's ``eval_model``)."""
    names = set()
    for task in benchmark.tasks:
        for sample in raw.get("samples", {}).get(task, []):
            record = _logged(sample.get(benchmark.metric))
            if isinstance(record, dict) and isinstance(record.get("eval_model"), str) and record["eval_model"]:
                names.add(record["eval_model"])
    return names - {"Failed Request"}  # llava_in_the_wild's mark of a request that got no reply


def normalise(benchmark: Benchmark, raw: dict[str, Any]) -> Outcome:
    per_task = {task: task_metrics(raw, task) for task in benchmark.tasks}
    counts = {task: sample_count(raw, task) for task in benchmark.tasks}
    details = {"tasks": per_task, "samples": counts,
               "task_versions": {task: raw.get("versions", {}).get(task) for task in benchmark.tasks}}
    if benchmark.submission:
        return Outcome(benchmark.name, None, "scored by the benchmark's evaluation server: submit the file "
                       f"submissions/{benchmark.submission_file} of the raw output, then record its score "
                       "(python -m aspo_repro submissions --help)", details)
    values = [_number(metrics.get(benchmark.metric)) for metrics in per_task.values()]
    if any(value is None for value in values):
        bad = [task for task, value in zip(benchmark.tasks, values) if value is None]
        return Outcome(benchmark.name, None, f"lmms-eval gave no {benchmark.metric} for {', '.join(bad)}"
                       + (" (no sentence could be judged)" if benchmark.judges_sentences else ""), details)
    value = sum(values) / len(values) * benchmark.scale
    highest = benchmark.max_value
    if value < -1e-9 or (highest is not None and value > highest + 1e-9):
        scale = f"0-{highest:g}" if highest is not None else "non-negative"
        return Outcome(benchmark.name, None, f"{value:g} lies outside the {scale} scale of the result store", details)
    score = BenchmarkScore(
        value=min(max(value, 0.0), highest) if highest is not None else max(value, 0.0),  # float rounding only
        stderr=_stderr(benchmark, per_task.values()),
        n=_items(benchmark, counts.values()),
        metric=_metric_label(benchmark),
        judge=judge_name(benchmark, raw),
        items=item_ratios(benchmark, raw),
    )
    return Outcome(benchmark.name, score, None, details)


def item_ratios(benchmark: Benchmark, raw: dict[str, Any]) -> dict[str, list[list[float]]] | None:
    """Each task's per-item (numerator, denominator), in document order, read from lmms-eval's logged
    samples by the benchmark's ``metrics.METRICS`` entry (``Benchmark.item_rule``); None when the
    metric has no entry, the samples were not logged, or they lack what the entry reads (MMBench's
    verdicts in an output recorded before ``evaluation/verdicts.py``)."""
    metric = METRICS.get(benchmark.item_rule)
    if metric is None:
        return None
    found = {}
    for task in benchmark.tasks:
        records = _metric_records(raw, task, benchmark.metric)
        try:
            pairs = metric.items(records) if records else []
        except KeyError:
            return None
        if not pairs:
            return None
        found[task] = [[_compact(num), _compact(den)] for num, den in pairs]
    return found


def _metric_records(raw: dict[str, Any], task: str, metric: str) -> list[Any] | None:
    """The metric's record of each logged sample that has one, in document order (a sample without
    it is not one of the metric's items: SEED-Bench's video questions for ``seed_image``); None when
    a record cannot be read."""
    samples = sorted(raw.get("samples", {}).get(task) or [], key=lambda sample: sample.get("doc_id", 0))
    records = [_logged(sample[metric]) for sample in samples if metric in sample]
    return None if any(record is None for record in records) else records


def _logged(value: Any) -> Any:
    """A per-document record as lmms-eval logged it (a dict with nested lists is logged as its repr)."""
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    return value


def _compact(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _stderr(benchmark: Benchmark, per_task) -> float | None:
    errors = [_number(metrics.get(f"{benchmark.metric}_stderr")) for metrics in per_task]
    if not errors or any(e is None for e in errors):
        return None
    return math.sqrt(sum(e * e for e in errors)) / len(errors) * benchmark.scale


def _items(benchmark: Benchmark, counts) -> int | None:
    counts = list(counts)
    if any(c is None for c in counts):
        return None
    return sum(counts) // benchmark.docs_per_item


def _metric_label(benchmark: Benchmark) -> str:
    label = benchmark.metric if len(benchmark.tasks) == 1 else f"mean {benchmark.metric} of {', '.join(benchmark.tasks)}"
    return f"{label} x {benchmark.scale:g}" if benchmark.scale != 1 else label
