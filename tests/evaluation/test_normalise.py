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


def test_a_gpt_judged_score_names_the_judge_asked_and_the_one_that_answered(monkeypatch):
    from aspo_repro.evaluation.normalise import judge_name

    monkeypatch.setenv("MODEL_VERSION", "gpt-4-0613")
    monkeypatch.setenv("OPENAI_API_URL", "http://judge/v1")
    samples = [{"gpt_eval_score": {"score": 1.0, "eval_model": "gpt-4-0613-served"}},
               {"gpt_eval_score": repr({"score": 0.5, "eval_model": "gpt-4-0613"})}]
    raw = {"samples": {"mmvet": samples}}
    assert judge_name(REGISTRY["mmvet"], raw) == "gpt-4-0613 (answered as gpt-4-0613-served) via http://judge/v1"
    assert judge_name(REGISTRY["mmvet"], {"samples": {"mmvet": samples[1:]}}) == "gpt-4-0613 via http://judge/v1"
