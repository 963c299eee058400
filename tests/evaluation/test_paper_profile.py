"""The paper profile without GPUs or network: what needs a judge key is reported missing, the
project's SHR task runs through lmms-eval with a stand-in judge, and lmms-eval's own tasks are
exercised up to loading their data."""

import json

import pytest
from eval_fixtures import ScriptedAnswerer, write_ha_dpo_files

from aspo_repro.errors import UserError
from aspo_repro.evaluation import benchmarks, lmms_model, runner, shr, task_inputs
from aspo_repro.evaluation.runner import EvalSettings, evaluate
from aspo_repro.results import EvalResult, RunKey


def paper_settings(tmp_path, names, **kwargs):
    return EvalSettings(model_dir=tmp_path / "model", benchmarks=benchmarks.select(names),
                        out=tmp_path / "eval.json", run=RunKey("paper", "llava-1.5-7b", "base"), **kwargs)


def test_judged_benchmarks_without_a_key_are_missing_never_zero(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = evaluate(paper_settings(tmp_path, "mmvet,llava_wild,mmbench_dev,mmbench_cn,shr"))
    assert result.scores == {}
    missing = EvalResult.load(tmp_path / "eval.json").extra["missing"]
    assert set(missing) == {"mmvet", "llava_wild", "mmbench_dev", "mmbench_cn", "shr"}
    assert all("OPENAI_API_KEY" in reason for reason in missing.values())


def test_shr_without_documents_says_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = evaluate(paper_settings(tmp_path, "shr"))
    assert "prepare_shr_docs" in result.extra["missing"]["shr"]


@pytest.mark.slow
def test_shr_task_runs_through_lmms_eval_with_the_judge_the_environment_names(tmp_path, monkeypatch):
    from aspo_repro.rehearsal.judge_replies import JUDGES, JudgeKind, shr_comments
    from aspo_repro.rehearsal.judge_server import JudgeServer

    write_ha_dpo_files(tmp_path)
    docs = shr.prepare_shr_docs(tmp_path / "shr", tmp_path / "vg", tmp_path / "shr.jsonl")
    replies = {3: "Judgement:\n1. hallucination: a\n2. correct: b\n3. cannot judge: c",
               2: "Judgement:\n1. correct: a\n2. hallucination: b"}  # by the number of sentences asked about
    scripted = {**JUDGES, "shr": JudgeKind(JUDGES["shr"].recognise, lambda prompt, seed: replies[len(shr_comments(prompt))])}
    answers = {"7": "A blue car is parked. The car is red. The scene feels calm.", "9": "A dog sleeps. It is a cat."}
    answerer = ScriptedAnswerer(lambda task, doc: answers[doc["id"]], image_size=(200, 100))
    with JudgeServer(port=0, model="gpt-4-0613", judges=scripted) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        result = evaluate(paper_settings(tmp_path, "shr", shr_data=docs), model=answerer)
        address = server.base_url
    score = result.scores["shr"]
    assert score.value == pytest.approx(2 / 5 * 100)  # hallucinated 1 + 1 over judged 3 + 2
    assert score.n == 2 and score.judge == f"gpt-4-0613 via {address}"
    assert answerer.prompts["shr"] == ["Describe this image in detail."] * 2
    asked = server.requests_of("shr")
    assert len(asked) == 2 and any("[0.1, 0.1, 0.6, 0.6]: red car" in request.prompt for request in asked)


@pytest.mark.slow
def test_lmms_eval_tasks_resolve_and_fail_clearly_when_their_data_cannot_be_fetched(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    manager = runner.task_manager("paper")
    for benchmark in benchmarks.select("paper"):
        assert all(task in manager.all_tasks for task in benchmark.tasks), benchmark.name
    pope = benchmarks.get_benchmark("pope")
    with pytest.raises(UserError) as error:
        runner.load_tasks(pope, task_inputs.task_configs(pope, None), manager)
    assert "pope: lmms-eval could not load its data" in str(error.value)
    assert "Hugging Face hub" in str(error.value)


def test_paper_checkpoints_get_lmms_eval_adapters_by_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    assert lmms_model.default_adapter(tmp_path, "paper") == "llava_hf"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "instructblip"}))
    assert lmms_model.default_adapter(tmp_path, "paper") == "instructblip_new_tokens"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(UserError, match="no lmms-eval adapter known for model_type 'qwen2_vl'"):
        lmms_model.default_adapter(tmp_path, "paper")


def test_eval_records_the_dtype_the_model_ran_in(tmp_path):
    """lmms-eval's llava_hf loads a checkpoint in the dtype it is stored in (``dtype="auto"``): an
    fp16 checkpoint runs in fp16, and that is what eval.json's provenance records."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from aspo_repro.models.builders import build_random_checkpoint

    source = build_random_checkpoint("llava", tmp_path / "fp32")
    AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float16).save_pretrained(tmp_path / "model")
    AutoProcessor.from_pretrained(source).save_pretrained(tmp_path / "model")
    model = lmms_model.build_model(paper_settings(tmp_path, "gqa", device="cpu"), "llava_hf")
    assert lmms_model.loaded_dtype(model) == "float16"
    assert lmms_model.loaded_dtype(ScriptedAnswerer(lambda task, doc: "")) is None  # no network: nothing to record


def test_llava_hf_without_decord_says_what_to_install(tmp_path, monkeypatch):
    """lmms-eval's llava_hf imports decord at import time: a machine without it gets one line."""
    import sys

    monkeypatch.setitem(sys.modules, "decord", None)  # ``import decord`` raises ImportError, as when absent
    for name in [name for name in sys.modules if name.startswith("lmms_eval.models.") and "llava_hf" in name]:
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(UserError, match="pip install decord"):
        lmms_model.build_model(paper_settings(tmp_path, "gqa"), "llava_hf")
