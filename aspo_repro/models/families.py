"""The model families, LLaVA and InstructBLIP: what each means for the code that builds, formats
and trains their models.

Code asks a family (``spec.family_spec.packs_pairs``, ``get_family(name).image_in_prompt``) instead
of comparing its name. The mini world's builders read it (it is one of ``miniworld/build.py``'s
``CODE_MODULES``), so it holds nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from aspo_repro.errors import unknown_name


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


LLAVA = ModelFamily("llava", model_type="llava", image_in_prompt=True, has_qformer=False, packs_pairs=True,
                    language_model_generates=False)
INSTRUCTBLIP = ModelFamily("instructblip", model_type="instructblip", image_in_prompt=False, has_qformer=True,
                           packs_pairs=False, language_model_generates=True)
FAMILY_REGISTRY: dict[str, ModelFamily] = {family.name: family for family in (LLAVA, INSTRUCTBLIP)}
FAMILIES = tuple(FAMILY_REGISTRY)


def get_family(name: str) -> ModelFamily:
    if name not in FAMILY_REGISTRY:
        raise unknown_name("model family", name, FAMILIES)
    return FAMILY_REGISTRY[name]


def family_of_model_type(model_type: str) -> ModelFamily | None:
    """The family whose checkpoints have transformers' ``model_type``; None for any other."""
    return next((family for family in FAMILY_REGISTRY.values() if family.model_type == model_type), None)
