"""Graded base models: a mini model trained by its world's SFT recipe for fewer or more steps.

The paper argues that as base models get better, ASPO's adaptive weights get more accurate and its
gain over DPO larger (section 4.2). ``mini-llava-s-sft30`` is ``mini-llava-s`` trained from the same
initial weights, on the same data, by the same recipe with every phase (grounding, the whole mix, the
warm-up) cut to 30% of its steps; ``mini-llava-s-sft300`` runs each phase three times as long: weaker
and stronger models of the same family (``reproduce --table base-quality``).

A graded model is built once beside its world (``<cache>/graded-models/<world key>/<name>``), a
verified cache stage keyed by the world, the recipe, the stages it reads and this module's code, as the
caption scorer is; the plan's world step trains it beside the world's stages (``make_graded_model``, in
the world's worker processes), and its own step (``sft``) finds it there before its preference data and
its evaluation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.miniworld.config import BaseModelRecipe, SftConfig
from aspo_repro.models.registry import get_model_spec

GRADED_DIR = "graded-models"


def model_dir(world, name: str, progress: bool = True) -> Path:
    """The checkpoint of mini model ``name`` in ``world``: one of the world's own, or a graded one
    (trained here on first use)."""
    spec = get_model_spec(name)
    return world.model_dir(name) if spec.graded_from is None else ensure_graded_model(world, name, progress)


def scaled_sft(sft: SftConfig, budget: float) -> SftConfig:
    """``sft`` with each phase and the warm-up at ``budget`` times its steps (at least one each)."""
    def cut(steps: int) -> int:
        return max(1, round(steps * budget))

    return dataclasses.replace(sft, grounding_steps=cut(sft.grounding_steps), steps=cut(sft.steps),
                               warmup_steps=cut(sft.warmup_steps))


def graded_recipe(world, name: str) -> BaseModelRecipe:
    """The world's recipe of the model ``name`` grades, under its name and with its budget of steps."""
    spec = get_model_spec(name)
    if spec.graded_from is None:
        raise UserError(f"{name} is not a graded base model (expected <mini model>-sft<percent>)")
    recipe = world.config.recipe(spec.graded_from)
    return dataclasses.replace(recipe, name=name, sft=scaled_sft(recipe.sft, spec.sft_budget))


def graded_dir(world, name: str) -> Path:
    """Where the graded model ``name`` of ``world`` lives: beside the world, not in it."""
    from aspo_repro.miniworld.cache import beside_world

    return beside_world(world, GRADED_DIR, name)


def graded_inputs(world, recipe: BaseModelRecipe) -> dict:
    """What a graded model is made from: the world, the recipe, the stages it reads and this module's code."""
    from aspo_repro.miniworld.cache import stage_fingerprint
    from aspo_repro.storage import sha256_file

    return {"stage": "graded-model", "world": world.root.name, "recipe": dataclasses.asdict(recipe),
            "data": stage_fingerprint(world.data_dir),
            "vision": stage_fingerprint(world.clip_stage_dir(recipe.vision_from)), "code": sha256_file(Path(__file__))}


def graded_model_built(world, name: str) -> bool:
    """Whether ``world`` (built or not) has the graded model ``name``, complete and intact."""
    from aspo_repro.miniworld.cache import built_beside

    recipe = graded_recipe(world, name)
    return built_beside(graded_dir(world, name), lambda: graded_inputs(world, recipe),
                        [world.data_dir, world.clip_stage_dir(recipe.vision_from)])


def make_graded_model(name: str, world, progress: bool, position: int) -> None:
    """Train the graded model ``name`` beside ``world``'s stages (``build.Beside``), unless it is there."""
    ensure_graded_model(world, name, progress, position)


def ensure_graded_model(world, name: str, progress: bool = True, position: int = 0) -> Path:
    """The graded model ``name``'s checkpoint directory for a built ``world``, trained on first use
    (``position``: its progress bar's line)."""
    from aspo_repro.miniworld.cache import ensure_beside
    from aspo_repro.miniworld.sft import train_base_model

    recipe = graded_recipe(world, name)
    return ensure_beside(
        graded_dir(world, name), graded_inputs(world, recipe),
        lambda tmp: train_base_model(recipe, world.data_dir, world.clip_stage_dir(recipe.vision_from), tmp,
                                     world.seed, world.config.data, progress, position, world.replicate),
        what=f"graded base model {name} ({recipe.sft.total_steps} SFT steps)", progress=progress)
