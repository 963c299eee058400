"""``aspo_hf`` with real (tiny, random-weight) LLaVA and InstructBLIP checkpoints, and the
``evaluate`` command as a user runs it."""

import json
import subprocess
import sys

import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation import benchmarks
from aspo_repro.evaluation.adapter import AspoHf, cut_at_stops, load_checkpoint, render_prompt
from aspo_repro.evaluation.runner import EvalSettings, evaluate
from aspo_repro.models.builders import build_random_checkpoint
from aspo_repro.results import EvalResult, RunKey


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_random_checkpoint("llava", tmp_path_factory.mktemp("tiny") / "mini-llava-random")


@pytest.fixture(scope="module")
def instructblip_dir(tmp_path_factory):
    return build_random_checkpoint("instructblip", tmp_path_factory.mktemp("tiny") / "mini-instructblip-random")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aspo_repro", *args], capture_output=True, text=True, timeout=300)


def test_prompts_follow_each_checkpoints_chat_template(llava_dir, instructblip_dir):
    _, llava = load_checkpoint(llava_dir)
    _, blip = load_checkpoint(instructblip_dir)
    assert render_prompt(llava, "Is there a star?", True) == "USER: <image>\nIs there a star? ASSISTANT:"
    assert render_prompt(blip, "Is there a star?", True) == "USER: Is there a star? ASSISTANT:"
    assert render_prompt(llava, "Q", True, answer="No").startswith("USER: <image>\nQ ASSISTANT: No")


def test_stop_strings_cut_the_answer():
    assert cut_at_stops("Yes.\n\nUSER: more", ["\n\n"]) == "Yes."
    assert cut_at_stops(" blue ", []) == "blue"


def test_instructblip_answers_in_batches_through_lmms_eval(tmp_path, benchmark_dir, instructblip_dir):
    model = AspoHf(pretrained=str(instructblip_dir), batch_size=3)
    settings = EvalSettings(model_dir=instructblip_dir, benchmarks=benchmarks.select("mini_gqa,mini_mmb"),
                            out=tmp_path / "eval.json", run=RunKey("mini", "tiny-blip", "base"),
                            benchmark_dir=benchmark_dir, limit=2)
    result = evaluate(settings, model=model)
    assert result.scores["mini_gqa"].n == 2 and result.scores["mini_mmb"].n == 2
    assert 0.0 <= result.scores["mini_gqa"].value <= 100.0
    raw = json.loads((tmp_path / "eval.lmms_eval" / "mini_mmb.json").read_text())
    assert all(isinstance(s["resps"][0][0], str) for s in raw["output"]["samples"]["mini_mmb"])


def test_loglikelihood_of_a_continuation_is_a_log_probability(llava_dir, benchmark_dir):
    from PIL import Image

    model = AspoHf(pretrained=str(llava_dir))
    total, greedy = model._continuation_logprob("Is there a star?", "No", [Image.new("RGB", (48, 48))])
    assert total < 0.0 and isinstance(greedy, bool)


@pytest.mark.slow
def test_evaluate_command_on_a_tiny_llava(tmp_path, benchmark_dir, llava_dir):
    out = tmp_path / "results" / "eval.json"
    result = run_cli("evaluate", "--model-dir", str(llava_dir), "--benchmarks", "mini", "--out", str(out),
                     "--benchmark-dir", str(benchmark_dir), "--limit", "1", "--batch-size", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    saved = EvalResult.load(out)
    assert saved.run == RunKey("mini", "mini-llava-random", "base", 0)
    # a random model answers nonsense: scored, or (SHR with no judgeable sentence) missing with the reason
    assert set(saved.scores) | set(saved.extra["missing"]) == set(benchmarks.SETS["mini"])
    assert saved.provenance["adapter"] == "aspo_hf" and saved.provenance["dtype"] == "float32"
    assert "mini_pope" in result.stdout and "wrote" in result.stdout


def test_a_directory_that_is_not_a_model_gets_a_clear_message(tmp_path, benchmark_dir):
    with pytest.raises(UserError, match="has no config.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llava", "text_config": ')
    with pytest.raises(UserError, match="cannot load the model in"):
        load_checkpoint(tmp_path)


def test_the_command_reports_an_unloadable_model_without_a_traceback(tmp_path, benchmark_dir):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text(json.dumps({"model_type": "not_a_model"}))
    out = tmp_path / "eval.json"
    result = run_cli("evaluate", "--model-dir", str(tmp_path / "broken"), "--benchmarks", "mini_gqa",
                     "--out", str(out), "--benchmark-dir", str(benchmark_dir))
    assert result.returncode == 2
    assert "error: cannot load the model in" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_the_command_lists_known_benchmarks_for_an_unknown_one(tmp_path):
    result = run_cli("evaluate", "--model-dir", str(tmp_path), "--benchmarks", "mini_popee", "--out", str(tmp_path / "e.json"))
    assert result.returncode == 2
    assert "unknown benchmark 'mini_popee'; known benchmarks: gqa, llava_wild, mini, mini_gqa" in result.stderr
