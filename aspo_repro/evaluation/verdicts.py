"""MMBench's per-question verdicts, which lmms-eval decides at aggregation and does not log.

lmms-eval's MMBench aggregation (``MMBench_Evaluator.eval_result``) scores a question right only
when every rotation of its options is answered right, extracting each answer by rules and, where
the rules cannot, by its GPT judge (``eval_sub_data``); the logged samples hold the raw answers
only. While an evaluation runs, :func:`recorded` keeps what ``eval_sub_data`` returned for each
question (its index modulo ``metrics.ROTATION_OFFSET``), and :func:`add_to_samples` writes that
verdict into every rotation's logged record, where ``metrics.circular_verdict_items`` reads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.metrics import CIRCULAR_HIT, ROTATION_OFFSET


@contextlib.contextmanager
def recorded() -> Iterator[dict[int, int]]:
    """{question index: 1 if lmms-eval counted it right else 0}, filled while MMBench aggregates."""
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    verdicts: dict[int, int] = {}
    original = MMBench_Evaluator.eval_sub_data

    def eval_sub_data(self, sub_data, answer_map, static_only=False):
        hit = original(self, sub_data, answer_map, static_only=static_only)
        verdicts[int(sub_data.iloc[0]["index"]) % ROTATION_OFFSET] = int(hit)
        return hit

    MMBench_Evaluator.eval_sub_data = eval_sub_data
    try:
        yield verdicts
    finally:
        MMBench_Evaluator.eval_sub_data = original


def add_to_samples(output: dict[str, Any], benchmark: Benchmark, verdicts: dict[int, int]) -> None:
    """Write each question's verdict into its rotations' logged records of ``benchmark``'s task. Only a
    benchmark of one task: the verdicts of two MMBench tasks aggregated in one run share their indices."""
    if not verdicts or len(benchmark.tasks) != 1:
        return
    for sample in output.get("samples", {}).get(benchmark.tasks[0], []):
        record = sample.get(benchmark.metric)
        if isinstance(record, dict) and "index" in record:
            record[CIRCULAR_HIT] = verdicts.get(int(record["index"]) % ROTATION_OFFSET)
