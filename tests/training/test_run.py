"""A whole run: adapter, merged checkpoint, metrics.jsonl, run.json; skipping a finished run."""

import json

import pytest
import torch
from train_helpers import FAST

from aspo_repro.errors import UserError
from aspo_repro.storage import sha256_tree
from aspo_repro.training import TrainConfig, train

STEPS = 2
STEP_KEYS = {
    "step",
    "loss",
    "learning_rate",
    "grad_norm",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "weights/mean",
    "weights/min",
    "weights/max",
    "c/mean",
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, model_dir, prefs_dir):
    out = tmp_path_factory.mktemp("run") / "aspo"
    messages = []
    config = TrainConfig(**FAST, max_steps=STEPS, tensorboard=True)
    outcome = train("aspo", str(model_dir), prefs_dir, out, config, log=messages.append)
    return outcome, out, config, messages


def test_outputs_are_written(finished, model_dir, prefs_dir):
    outcome, out, _, _ = finished
    assert not outcome.skipped
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter",
        "merged",
        "metrics.jsonl",
        "run.json",
        "tensorboard",
    ]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, STEPS + 1))
    assert all(STEP_KEYS <= row.keys() for row in rows)


def test_run_json_records_what_ran(finished, model_dir, prefs_dir):
    _, out, _, _ = finished
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete"
    assert record["method"]["name"] == "aspo" and record["method"]["alpha"] == 0.5
    assert record["model"]["name"] == str(model_dir)
    assert record["seed"] == 42 and record["config"]["max_steps"] == STEPS
    assert record["config"]["learning_rate"] == FAST["learning_rate"]
    assert record["data"]["fingerprint"] == sha256_tree(prefs_dir)
    assert record["data"]["rows"] == 8 and record["data"]["trained_pairs"] == 8
    assert record["data"]["manifest"] == {"source": "tests", "rows": 8}
    similarity = record["similarity"]
    assert (similarity["source"], similarity["scored_pairs"]) == ("data", 0)
    assert 0.0 <= similarity["auc_within_answers"]["value"] <= 1.0  # its S, though it weights by S and P
    assert record["steps"] == STEPS and record["resumed_from_step"] is None
    # trained in fp32 or not, the merge runs in fp32 and is saved in the base's dtype (fp32 here)
    assert record["merged"] == {"dtype": "float32", "base_dtype": "float32", "merged_in": "float32"}
    assert record["packages"]["trl"] == "1.16.0"
    assert {"git_revision", "hardware", "created", "wall_time_s"} <= record.keys()


def test_merged_model_equals_base_plus_adapter(finished, model_dir, prefs_dir):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    _, out, _, _ = finished
    merged = AutoModelForImageTextToText.from_pretrained(out / "merged").eval()
    processor = AutoProcessor.from_pretrained(out / "merged")
    base = AutoModelForImageTextToText.from_pretrained(model_dir)
    adapted = PeftModel.from_pretrained(base, out / "adapter").eval()
    from PIL import Image

    image = Image.new("RGB", (20, 20), (200, 30, 30))
    prompt = "describe the image ."
    if processor.chat_template:
        prompt = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
            add_generation_prompt=True,
        )
    inputs = processor(
        images=[image], text=[prompt + " there is a red circle ."], return_tensors="pt"
    )
    with torch.no_grad():
        merged_logits = merged(**inputs).logits
        adapted_logits = adapted(**inputs).logits
        with adapted.disable_adapter():
            base_logits = adapted(**inputs).logits
    torch.testing.assert_close(merged_logits, adapted_logits, rtol=1e-4, atol=1e-5)
    assert (merged_logits - base_logits).abs().max() > 1e-4  # the adapter changed the model


def test_finished_run_is_skipped(finished, model_dir, prefs_dir):
    _, out, config, _ = finished
    before = (out / "run.json").read_text()
    messages = []
    again = train("aspo", str(model_dir), prefs_dir, out, config, log=messages.append)
    assert again.skipped and again.record["status"] == "complete"
    assert messages and messages[0].startswith("skipped:")
    assert (out / "run.json").read_text() == before


def test_finished_run_of_other_settings_is_an_error(finished, model_dir, prefs_dir):
    _, out, config, _ = finished
    with pytest.raises(UserError, match="holds a finished run with other settings"):
        train("dpo", str(model_dir), prefs_dir, out, config)


def test_out_with_foreign_files_is_an_error(tmp_path, llava_dir, prefs_dir):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already holds other files"):
        train("dpo", str(llava_dir), prefs_dir, out, TrainConfig(**FAST, max_steps=1))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_missing_similarities_are_scored_and_recorded(tmp_path, llava_dir):
    from prefdata import fake_scorer, make_rows, save_prefs

    prefs = save_prefs(tmp_path / "prefs", make_rows(4, with_similarity=False))
    calls = []

    def scorer(images, texts):
        calls.append(len(texts))
        return fake_scorer(images, texts)

    outcome = train(
        "aspo-s",
        str(llava_dir),
        prefs,
        tmp_path / "run",
        TrainConfig(**FAST, max_steps=2),
        scorer=scorer,
        log=lambda _: None,
    )
    assert outcome.record["similarity"]["source"] == "computed"
    assert outcome.record["similarity"]["scored_pairs"] == sum(calls) > 0
    # the test data's verdicts are its fake similarity above one half: the scores rank them perfectly
    assert outcome.record["similarity"]["auc_within_answers"]["value"] == 1.0


def test_a_run_mixing_similarity_and_perplexity_records_its_similarity_s_auc(tmp_path, llava_dir):
    """ASPO-S+P weights by a mix; the similarity it mixes in is measured against the judge all the same."""
    from prefdata import make_rows, save_prefs

    prefs = save_prefs(tmp_path / "prefs", make_rows(6, sentences=(3, 5)))
    outcome = train("aspo", str(llava_dir), prefs, tmp_path / "run", TrainConfig(**FAST, max_steps=1),
                    log=lambda _: None)
    assert outcome.record["similarity"]["auc_within_answers"]["value"] == 1.0


def test_a_noisy_oracle_records_the_auc_of_the_weights_it_trained_with(tmp_path, llava_dir):
    """Every verdict flipped: the weights rank each answer's correct sentences below its hallucinated ones."""
    from prefdata import make_rows, save_prefs

    prefs = save_prefs(tmp_path / "prefs", make_rows(6, sentences=(3, 5)))
    outcome = train("aspo-oracle", str(llava_dir), prefs, tmp_path / "run",
                    TrainConfig(**FAST, max_steps=1, method_options={"verdict_flip": 1.0}), log=lambda _: None)
    similarity = outcome.record["similarity"]
    assert similarity["verdict_flip"] == 1.0
    assert similarity["auc_within_answers"]["value"] == 0.0 and similarity["auc_within_answers"]["answers"] > 0


def test_a_run_stopped_while_writing_outputs_completes_on_rerun(tmp_path, llava_dir, prefs_dir):
    import shutil

    from safetensors.torch import load_file

    out = tmp_path / "run"
    config = TrainConfig(**FAST, max_steps=2, keep_checkpoints=True)
    train("dpo", str(llava_dir), prefs_dir, out, config, log=lambda _: None)
    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    (
        out / "run.json"
    ).unlink()  # as if killed after the adapter, before the merged model and run.json
    shutil.rmtree(out / "merged")
    messages = []
    again = train("dpo", str(llava_dir), prefs_dir, out, config, log=messages.append)
    assert "resuming from checkpoint-2" in messages and again.record["resumed_from_step"] == 2
    assert again.record["steps"] == 2 and (out / "merged" / "config.json").is_file()
    rebuilt = load_file(out / "adapter" / "adapter_model.safetensors")
    assert all(torch.equal(adapter[name], rebuilt[name]) for name in adapter)


def test_a_run_scored_by_its_own_scorer_is_another_run_when_the_scorer_is_retrained(tmp_path, llava_dir, prefs_dir,
                                                                                     monkeypatch):
    """scorer=judge-trained rescores every sentence with a checkpoint trained beside the world: a retrained
    checkpoint (other weights) must not resume or reuse a run made with the old one."""
    from aspo_repro.training import prepare_run, similarity

    checkpoint = tmp_path / "scorer"
    checkpoint.mkdir()
    (checkpoint / "weights.safetensors").write_bytes(b"first")
    monkeypatch.setattr(similarity, "own_checkpoint", lambda method, manifest, world: checkpoint)
    config = TrainConfig(**FAST, method_options={"scorer": "judge-trained"})
    first = prepare_run("aspo-s", str(llava_dir), prefs_dir, tmp_path / "run", config).run_key
    assert first == prepare_run("aspo-s", str(llava_dir), prefs_dir, tmp_path / "run", config).run_key
    (checkpoint / "weights.safetensors").write_bytes(b"retrained")
    assert prepare_run("aspo-s", str(llava_dir), prefs_dir, tmp_path / "run", config).run_key != first
    unscored = prepare_run("aspo-s", str(llava_dir), prefs_dir, tmp_path / "run", TrainConfig(**FAST))
    assert "scorer_fingerprint" not in unscored.identity
