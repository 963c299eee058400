"""The rehearsal's stand-in servers around an evaluation: started where the profile's ``standins:``
asks, reached by the evaluation as real servers are, the submission scored as a user records one."""

from __future__ import annotations

import json
import os

import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.evaluation.submissions import submission_path
from aspo_repro.orchestration.profiles import StandinSettings, load_profile
from aspo_repro.rehearsal import servers
from aspo_repro.rehearsal.answer_keys import answer_key_path
from aspo_repro.rehearsal.servers import standin_servers
from aspo_repro.results import EvalResult, RunKey

from .test_submission_server import submission

MMB_TEST = REGISTRY["mmbench_test"]
AWAITING = "scored by the MMBench server: submit the file"



def test_the_rehearsal_profile_asks_for_both_stand_ins_and_its_evaluation_knows_none():
    profile = load_profile("paper-rehearsal")
    assert (profile.standins.judge_server, profile.standins.submission_server) == (True, True)
    assert not hasattr(profile.evaluate, "judge_server") and not hasattr(profile.evaluate, "submission_server")


def settings_for(tmp_path, **more) -> EvalSettings:
    return EvalSettings(model_dir=tmp_path, out=tmp_path / "eval.json", run=RunKey("paper", "llava-1.5-7b", "base", 0),
                        benchmarks="mmbench_test,gqa", device="cpu", **more)


def test_the_submission_awaiting_its_server_is_scored_by_the_stand_in_after_the_evaluation(tmp_path):
    datasets = tmp_path / "datasets"
    key = answer_key_path(datasets, "mmbench_en_test")
    key.parent.mkdir(parents=True)
    key.write_text(json.dumps({"0": "A", str(ROTATION_OFFSET): "B", "1": "B", str(1 + ROTATION_OFFSET): "A"}))
    settings = settings_for(tmp_path, dataset_dir=datasets)
    answers = submission_path(settings.out, MMB_TEST)
    answers.parent.mkdir(parents=True)

    with standin_servers(StandinSettings(submission_server=True), settings):
        submission(answers, {0: "A", ROTATION_OFFSET: "B", 1: "B", 1 + ROTATION_OFFSET: "B"})
        EvalResult(settings.run, {}, {}, {"missing": {"mmbench_test": AWAITING, "gqa": "no key"}}).save(settings.out)

    result = EvalResult.load(settings.out)
    assert (result.scores["mmbench_test"].value, result.scores["mmbench_test"].n) == (50.0, 2)
    assert "rehearsal stand-in" in result.scores["mmbench_test"].judge
    assert result.extra["missing"] == {"gqa": "no key"}
    assert result.provenance["server_scores"]["mmbench_test"]["file"] == str(answers)


def test_a_submission_server_without_local_datasets_is_refused_before_the_evaluation(tmp_path):
    ran = []
    with pytest.raises(UserError, match="needs evaluate.dataset_dir"):
        with standin_servers(StandinSettings(submission_server=True), settings_for(tmp_path)):
            ran.append(True)
    assert ran == []


def test_the_stand_in_judge_is_named_in_the_environment_as_a_real_server_is(tmp_path, monkeypatch):
    monkeypatch.setattr(servers, "_JUDGE_SERVER", None)
    for name in ("API_TYPE", "MODEL_VERSION", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ASPO_SHR_JUDGE_MODEL",
                 "NO_PROXY", "no_proxy", "OPENAI_API_URL"):
        monkeypatch.delenv(name, raising=False)
    with standin_servers(None, settings_for(tmp_path)):
        assert "OPENAI_BASE_URL" not in os.environ  # no stand-ins asked: nothing started
    try:
        with standin_servers(StandinSettings(judge_server=True), settings_for(tmp_path), log=lambda line: None):
            server = servers._JUDGE_SERVER
            assert os.environ["OPENAI_BASE_URL"] == server.base_url and "OPENAI_API_URL" not in os.environ
            assert os.environ["OPENAI_API_KEY"] == server.api_key
    finally:
        servers._JUDGE_SERVER.stop()


class _Unsure:
    """An lmms-eval model answering every question so that only a GPT judge can score it."""

    @staticmethod
    def model():
        from lmms_eval.api.model import lmms

        class Unsure(lmms):
            def generate_until(self, requests):
                return ["Perhaps the second one, I am not sure." for _ in requests]

            def loglikelihood(self, requests):
                raise AssertionError("these tasks only generate")

            def generate_until_multi_round(self, requests):
                raise AssertionError("these tasks only generate")

        return Unsure()


@pytest.mark.slow
def test_an_evaluation_reaches_the_stand_ins_as_it_reaches_real_servers(tmp_path, monkeypatch):
    """The judged benchmarks through the runner: each lmms-eval judge client posts to the one path a
    real server answers; MMB-test is scored by the stand-in of its server."""
    import datasets
    from PIL import Image

    from aspo_repro.evaluation.runner import evaluate
    from aspo_repro.rehearsal.benchmark_data import write_benchmark_datasets

    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(servers, "_JUDGE_SERVER", None)
    for name in ("API_TYPE", "MODEL_VERSION", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ASPO_SHR_JUDGE_MODEL",
                 "NO_PROXY", "no_proxy", "OPENAI_API_URL"):
        monkeypatch.delenv(name, raising=False)
    images = [Image.new("RGB", (48, 48), colour) for colour in ("red", "green", "blue")]
    write_benchmark_datasets(tmp_path / "datasets", images, rows=2, seed=1)
    settings = EvalSettings(model_dir=tmp_path, out=tmp_path / "eval.json", run=RunKey("paper", "llava-1.5-7b", "base", 0),
                            benchmarks="mmvet,mmbench_dev,llava_wild,mmbench_test", dataset_dir=tmp_path / "datasets",
                            protocol="lmms-eval", device="cpu", batch_size=1)
    try:
        with standin_servers(StandinSettings(judge_server=True, submission_server=True), settings,
                             log=lambda line: None):
            evaluate(settings, model=_Unsure.model())
        requests = servers._JUDGE_SERVER.requests
    finally:
        servers._JUDGE_SERVER.stop()
    result = EvalResult.load(settings.out)
    assert set(result.scores) == {"mmvet", "mmbench_dev", "llava_wild", "mmbench_test"}, result.extra["missing"]
    assert {r.kind for r in requests} == {"mmvet", "mmbench", "llava_w"}
    assert {(r.path, r.status) for r in requests} == {("/v1/chat/completions", 200)}
    assert "rehearsal stand-in" in result.scores["mmbench_test"].judge

