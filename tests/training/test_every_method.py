"""Every registered method trains a few steps on a LLaVA and an InstructBLIP model."""

import math

import pytest
from prefdata import fake_scorer
from train_helpers import make_trainer, step_logs, trainable

from aspo_repro.methods import get_method, method_names


@pytest.mark.parametrize("method", method_names())
def test_method_trains_on_model(method, model_dir, prefs_dir, tmp_path):
    trainer = make_trainer(
        model_dir, prefs_dir, method, tmp_path / "run", max_steps=2, scorer=fake_scorer
    )
    before = trainable(trainer)
    trainer.train()
    after = trainable(trainer)
    logs = step_logs(trainer)
    assert [entry["step"] for entry in logs] == [1, 2]
    assert all(math.isfinite(entry["loss"]) for entry in logs)
    # a fresh adapter is the identity: at step 1 the policy is the reference and every reward is 0
    assert logs[0]["rewards/chosen"] == 0.0 and logs[0]["rewards/rejected"] == 0.0
    assert logs[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert max((after[n] - before[n]).abs().max().item() for n in before) > 0
    assert all("language_model" in name for name in after)  # LoRA on the language model only
    if get_method(method).loss == "aspo":
        for entry in logs:
            assert {"weights/mean", "weights/min", "weights/max", "c/mean"} <= entry.keys()
    else:
        assert "weights/mean" not in logs[0]


def test_perplexity_from_the_reference_model_is_an_option(llava_dir, prefs_dir, tmp_path):
    trainer = make_trainer(
        llava_dir,
        prefs_dir,
        "aspo-p",
        tmp_path / "run",
        max_steps=1,
        method_options={"ppl_source": "reference"},
    )
    assert (
        trainer.method.ppl_source == "reference"
        and trainer.method.name == "aspo-p[ppl_source=reference]"
    )
    trainer.train()
    assert math.isfinite(step_logs(trainer)[0]["weights/mean"])
