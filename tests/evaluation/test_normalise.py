"""normalise: lmms-eval's output for one benchmark -> a score on the result store's scale."""

from __future__ import annotations

from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.evaluation.normalise import normalise


def raw(task: str, metric: str, value: float) -> dict:
    return {"results": {task: {f"{metric},none": value}}, "n-samples": {task: {"effective": 8}}}


def test_a_relative_score_above_100_is_kept_and_a_bounded_one_refused():
    llava_wild = normalise(REGISTRY["llava_wild"], raw("llava_in_the_wild", "gpt_eval_llava_all", 141.7))
    assert llava_wild.score.value == 141.7  # LLaVA-W is relative to GPT-4's answers: no upper bound
    gqa = normalise(REGISTRY["gqa"], raw("gqa", "exact_match", 1.2))  # 120 on the 0-100 scale
    assert gqa.score is None and "outside the 0-100 scale" in gqa.missing
