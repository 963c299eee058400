"""The model families, LLaVA and InstructBLIP: what each means for the code that builds, formats,
trains, sizes and evaluates their models.

Code asks a family (``spec.family_spec.packs_pairs``, ``get_family(name).image_in_prompt``,
``family_of_model_type(config["model_type"]).count_parameters(config)``) instead of comparing its
name or keeping a table keyed by it; what only one family's code does (its toy architecture, its
vision tower, its stand-in's processor) is a field holding that code's function. The mini world's
builders read this module (it is one of ``miniworld/build.py``'s ``CODE_MODULES``): a change here
changes the world's key, so the world is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from aspo_repro.errors import unknown_name
from aspo_repro.models.architectures import (
    TINY_INSTRUCTBLIP,
    TINY_LLAVA,
    build_instructblip,
    build_llava,
)
from aspo_repro.models.parameter_counts import instructblip_parameters, llava_parameters
from aspo_repro.models.vision_init import instructblip_vision_state, llava_vision_state
from aspo_repro.rehearsal.standin_processors import instructblip_processor, llava_processor


@dataclass(frozen=True)
class ModelFamily:
    """An architecture family: what the code asks of a model beyond its registry entry."""

    name: str
    model_type: str  # transformers' ``config.model_type`` of its checkpoints
    # The prompt carries the image token, which the chat template places (LLaVA); without the template
    # the image cannot be placed. InstructBLIP's image enters through its Q-Former instead.
    image_in_prompt: bool
    has_qformer: bool  # the Q-Former reads the instruction with its own tokenizer
    # A pair may be packed into one sequence, its prompt once (training/packing.py).
    packs_pairs: bool
    # generate() runs the language model under that model's own generation config, which must be
    # given the checkpoint's (end token, length) in place of the defaults.
    language_model_generates: bool
    # A checkpoint's parameters by part (vision, connector, language) from its config.json (the memory plan).
    count_parameters: Callable[[dict], dict[str, int]]
    # The lmms-eval adapter its paper checkpoints are evaluated with (evaluation/lmms_model.py).
    lmms_adapter: str
    # An evaluation protocol's conversation and image preprocessing apply to its checkpoints
    # (docs/protocol.md); InstructBLIP is prompted with the instruction alone, its images resized whole.
    presented_by_protocol: bool

    # What only its code does, each a function of the module of its concern (modules that import no
    # registry and import torch and transformers only inside their functions):
    # an untrained toy model and its processor, (tokenizer, size or None, ImageSpec) -> (model, processor)
    build_untrained: Callable
    tiny_size: Any  # the smallest size that still exercises every component (models/architectures.py)
    vision_tower: Callable  # a model -> its vision tower module
    # open_clip's ViT weights as the vision tower's state dict (models/vision_init.py)
    vision_state: Callable[[dict], dict]
    # a paper checkpoint's stand-in processor, (tokenizer, Q-Former tokenizer or None, config) -> processor
    standin_processor: Callable


LLAVA = ModelFamily("llava", model_type="llava", image_in_prompt=True, has_qformer=False, packs_pairs=True,
                    language_model_generates=False, count_parameters=llava_parameters, lmms_adapter="llava_hf",
                    presented_by_protocol=True, build_untrained=build_llava,
                    tiny_size=TINY_LLAVA, vision_tower=attrgetter("model.vision_tower"),
                    vision_state=llava_vision_state,
                    standin_processor=lambda tokenizer, _, config: llava_processor(tokenizer, config))
# instructblip_new_tokens: lmms-eval's instructblip answering with the new tokens only
# (evaluation/instructblip_adapter.py, docs/upstream/lmms-eval-instructblip.md)
INSTRUCTBLIP = ModelFamily("instructblip", model_type="instructblip", image_in_prompt=False, has_qformer=True,
                           packs_pairs=False, language_model_generates=True,
                           count_parameters=instructblip_parameters, lmms_adapter="instructblip_new_tokens",
                           presented_by_protocol=False, build_untrained=build_instructblip,
                           tiny_size=TINY_INSTRUCTBLIP, vision_tower=attrgetter("vision_model"),
                           vision_state=instructblip_vision_state,
                           standin_processor=instructblip_processor)
FAMILY_REGISTRY: dict[str, ModelFamily] = {family.name: family for family in (LLAVA, INSTRUCTBLIP)}
FAMILIES = tuple(FAMILY_REGISTRY)


def get_family(name: str) -> ModelFamily:
    if name not in FAMILY_REGISTRY:
        raise unknown_name("model family", name, FAMILIES)
    return FAMILY_REGISTRY[name]


def family_of_model_type(model_type: str) -> ModelFamily | None:
    """The family whose checkpoints have transformers' ``model_type``; None for any other."""
    return next((family for family in FAMILY_REGISTRY.values() if family.model_type == model_type), None)
