"""judging: the judges' server named once (OPENAI_BASE_URL), given to each lmms-eval judge client in
the form it reads, and the judge model a benchmark asks for, set only while it runs."""

from __future__ import annotations

import os

from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.evaluation.judging import judge_environment, lmms_judge_environment, lmms_judge_url
from aspo_repro.evaluation.settings import EvalSettings


def test_each_lmms_eval_client_gets_the_base_url_in_the_form_it_reads(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://judge.example/v1/")
    assert lmms_judge_url(REGISTRY["mmvet"]) == "https://judge.example/v1"  # llm_judge: the SDK's base URL
    assert lmms_judge_url(REGISTRY["llava_wild"]) == "https://judge.example/v1"
    assert lmms_judge_url(REGISTRY["mmbench_dev"]) == "https://judge.example/v1/chat/completions"  # MMBench: posts there
    assert lmms_judge_url(REGISTRY["mmbench_cn"]) == "https://judge.example/v1/chat/completions"


def test_without_a_base_url_lmms_eval_keeps_its_own_address(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert lmms_judge_url(REGISTRY["mmbench_dev"]) is None
    assert lmms_judge_environment(REGISTRY["mmvet"], None) == {}


def test_the_judge_environment_holds_only_while_the_benchmark_runs(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_URL", "http://elsewhere/v1")
    monkeypatch.delenv("MODEL_VERSION", raising=False)
    settings = EvalSettings(benchmarks="paper", judge_models={"mmbench_dev": "gpt-4-0613"})
    with judge_environment(settings, REGISTRY["mmbench_dev"]):
        assert os.environ["OPENAI_API_URL"] == "http://127.0.0.1:9/v1/chat/completions"
        assert os.environ["MODEL_VERSION"] == os.environ["ASPO_SHR_JUDGE_MODEL"] == "gpt-4-0613"
    assert os.environ["OPENAI_API_URL"] == "http://elsewhere/v1" and "MODEL_VERSION" not in os.environ
