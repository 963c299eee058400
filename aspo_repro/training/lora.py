"""LoRA through PEFT, from a model's recipe (``aspo_repro.models.LoraRecipe``).

The recipe names the projection layers (``q_proj``, ...) and a regex scope (the language model),
because LLaVA's vision tower and InstructBLIP's Q-Former use the same layer names. PEFT takes the
two as one regex matched against full module names.
"""

from __future__ import annotations

import re

from aspo_repro.errors import UserError
from aspo_repro.training.config import ResolvedSettings


def target_pattern(scope: str, names: tuple[str, ...]) -> str:
    """A regex that PEFT full-matches against module names: ``<scope>.<one of names>``."""
    return rf"{scope}\.(?:{'|'.join(re.escape(name) for name in names)})"


def lora_config(settings: ResolvedSettings, model):
    """A ``peft.LoraConfig`` for ``model``; a clear error if the recipe matches none of its layers."""
    from peft import LoraConfig

    pattern = target_pattern(settings.lora_module_scope, settings.lora_target_modules)
    matched = [name for name, _ in model.named_modules() if re.fullmatch(pattern, name)]
    if not matched:
        raise UserError(
            f"the LoRA recipe (layers {', '.join(settings.lora_target_modules)} within "
            f"{settings.lora_module_scope!r}) matches no layer of {type(model).__name__}"
        )
    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=pattern,
        bias="none",
    )
