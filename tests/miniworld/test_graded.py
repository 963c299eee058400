"""Graded base models: the world's SFT recipe for a share of its steps, built once beside the world."""

import json

import pytest

from aspo_repro.errors import UserError
from aspo_repro.miniworld import graded
from aspo_repro.miniworld.config import SftConfig


def test_every_phase_and_the_warm_up_are_cut_to_the_budget():
    sft = SftConfig(grounding_steps=500, steps=1100, warmup_steps=30)
    cut = graded.scaled_sft(sft, 0.1)
    assert (cut.grounding_steps, cut.steps, cut.warmup_steps) == (50, 110, 3)
    assert (cut.batch_size, cut.learning_rate) == (sft.batch_size, sft.learning_rate)
    tiny = graded.scaled_sft(SftConfig(grounding_steps=2, steps=2, warmup_steps=1), 0.1)
    assert (tiny.grounding_steps, tiny.steps, tiny.warmup_steps) == (1, 1, 1)  # at least one step each


def test_a_graded_model_is_trained_once_beside_the_world_and_loads(tiny_world):
    from aspo_repro.models.loading import load_model_and_processor, registry_checkpoint
    from aspo_repro.models.registry import get_model_spec

    name = "mini-llava-s-sft50"
    assert not graded.graded_model_built(tiny_world, name)
    directory = graded.ensure_graded_model(tiny_world, name, progress=False)
    assert directory == graded.graded_dir(tiny_world, name) and not directory.is_relative_to(tiny_world.root)
    assert graded.graded_model_built(tiny_world, name)
    record = json.loads((directory / "build_record.json").read_text())
    assert record["record"]["model"] == name
    assert record["inputs"]["recipe"]["sft"]["grounding_steps"] == 1 and record["inputs"]["recipe"]["sft"]["steps"] == 1
    manifest = (directory / "manifest.json").read_text()
    assert graded.ensure_graded_model(tiny_world, name, progress=False) == directory
    assert (directory / "manifest.json").read_text() == manifest  # reused, not trained again
    assert registry_checkpoint(get_model_spec(name), tiny_world) == directory
    assert registry_checkpoint(get_model_spec("mini-llava-s"), tiny_world) == tiny_world.model_dir("mini-llava-s")
    model, _ = load_model_and_processor(str(directory))
    whole, _ = load_model_and_processor(str(tiny_world.model_dir("mini-llava-s")))
    weights = dict(whole.named_parameters())
    assert any(not (parameter == weights[key]).all() for key, parameter in model.named_parameters()
               if parameter.requires_grad or "language_model" in key)


def test_only_a_graded_name_has_a_graded_recipe(tiny_world):
    with pytest.raises(UserError, match="not a graded base model"):
        graded.graded_recipe(tiny_world, "mini-llava-s")
    recipe = graded.graded_recipe(tiny_world, "mini-instructblip-sft50")
    assert recipe.name == "mini-instructblip-sft50" and recipe.family == "instructblip"
