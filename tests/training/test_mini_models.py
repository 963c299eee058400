"""Every registered method trains a few steps on each mini base model, through the public ``train``.

The models are the mini world's own base models (its test-sized build), resolved by registry name
in that world, with their registry LoRA recipes: the path `reproduce` takes on the mini profile.
"""

import json
import math

import pytest
from prefdata import fake_scorer

from aspo_repro.methods import method_names
from aspo_repro.models import model_names
from aspo_repro.training import TrainConfig, train


@pytest.mark.parametrize("model", model_names("mini"))
@pytest.mark.parametrize("method", method_names())
def test_method_trains_on_mini_base_model(method, model, tiny_world, prefs_dir, tmp_path):
    config = TrainConfig(max_steps=2, global_batch_size=2, save_steps=1000, max_length=512)
    outcome = train(method, model, prefs_dir, tmp_path / "run", config, scorer=fake_scorer, world=tiny_world,
                    log=lambda message: None)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record["steps"] == 2
    assert record["model"]["source"] == str(tiny_world.model_dir(model))
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s] == [1, 2]
    assert all(math.isfinite(s["loss"]) for s in steps if "loss" in s)
    assert (tmp_path / "run" / "merged" / "config.json").is_file()
    assert not outcome.skipped
