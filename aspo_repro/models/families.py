"""The model families, LLaVA and InstructBLIP: what each means for the code that builds, formats,
trains, sizes and evaluates their models.

Code asks a family (``spec.family_spec.packs_pairs``, ``get_family(name).image_in_prompt``,
``family_of_model_type(config["model_type"]).count_parameters(config)``) instead of comparing its
name or keeping a table keyed by it; what only one family's code does (its toy architecture, its
vision tower, its stand-in's processor) is a method of that family's subclass, which calls the code
of its concern. The mini world's builders read this module (it is one of
``miniworld/build.py``'s ``CODE_MODULES``): a change here changes the world's key, so the world is
rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aspo_repro.errors import unknown_name
from aspo_repro.models.parameter_counts import instructblip_parameters, llava_parameters


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

    # What only code of one family does, each in the module of its concern and imported when first asked
    # (so that this registry imports neither torch nor transformers): below, one subclass per family.
    def build_untrained(self, tokenizer, size, image):
        """An untrained toy model of this family (``size``: its size dataclass, None for the default)
        over ``tokenizer``, and its processor (``models/architectures.py``)."""
        raise NotImplementedError

    def tiny_size(self):
        """The smallest size that still exercises every component (``models/architectures.py``)."""
        raise NotImplementedError

    def vision_tower(self, model):
        """The model's vision tower module."""
        raise NotImplementedError

    def vision_state(self, visual_state: dict) -> dict:
        """open_clip's ViT weights (``visual_state``) as the vision tower's state dict (``models/vision_init.py``)."""
        raise NotImplementedError

    def standin_processor(self, tokenizer, qformer_tokenizer, config):
        """A paper checkpoint's stand-in processor over its tokenizer(s) and config (``rehearsal/standin_processors.py``)."""
        raise NotImplementedError


class _Llava(ModelFamily):
    def build_untrained(self, tokenizer, size, image):
        from aspo_repro.models.architectures import build_llava

        return build_llava(tokenizer, size, image)

    def tiny_size(self):
        from aspo_repro.models.architectures import TINY_LLAVA

        return TINY_LLAVA

    def vision_tower(self, model):
        return model.model.vision_tower

    def vision_state(self, visual_state: dict) -> dict:
        from aspo_repro.models.vision_init import llava_vision_state

        return llava_vision_state(visual_state)

    def standin_processor(self, tokenizer, qformer_tokenizer, config):
        from aspo_repro.rehearsal.standin_processors import llava_processor

        return llava_processor(tokenizer, config)


class _InstructBlip(ModelFamily):
    def build_untrained(self, tokenizer, size, image):
        from aspo_repro.models.architectures import build_instructblip

        return build_instructblip(tokenizer, size, image)

    def tiny_size(self):
        from aspo_repro.models.architectures import TINY_INSTRUCTBLIP

        return TINY_INSTRUCTBLIP

    def vision_tower(self, model):
        return model.vision_model

    def vision_state(self, visual_state: dict) -> dict:
        from aspo_repro.models.vision_init import instructblip_vision_state

        return instructblip_vision_state(visual_state)

    def standin_processor(self, tokenizer, qformer_tokenizer, config):
        from aspo_repro.rehearsal.standin_processors import instructblip_processor

        return instructblip_processor(tokenizer, qformer_tokenizer, config)


LLAVA = _Llava("llava", model_type="llava", image_in_prompt=True, has_qformer=False, packs_pairs=True,
               language_model_generates=False, count_parameters=llava_parameters, lmms_adapter="llava_hf",
               presented_by_protocol=True)
# instructblip_new_tokens: lmms-eval's instructblip answering with the new tokens only
# (evaluation/instructblip_adapter.py, docs/upstream/lmms-eval-instructblip.md)
INSTRUCTBLIP = _InstructBlip("instructblip", model_type="instructblip", image_in_prompt=False, has_qformer=True,
                             packs_pairs=False, language_model_generates=True,
                             count_parameters=instructblip_parameters, lmms_adapter="instructblip_new_tokens",
                             presented_by_protocol=False)
FAMILY_REGISTRY: dict[str, ModelFamily] = {family.name: family for family in (LLAVA, INSTRUCTBLIP)}
FAMILIES = tuple(FAMILY_REGISTRY)


def get_family(name: str) -> ModelFamily:
    if name not in FAMILY_REGISTRY:
        raise unknown_name("model family", name, FAMILIES)
    return FAMILY_REGISTRY[name]


def family_of_model_type(model_type: str) -> ModelFamily | None:
    """The family whose checkpoints have transformers' ``model_type``; None for any other."""
    return next((family for family in FAMILY_REGISTRY.values() if family.model_type == model_type), None)
