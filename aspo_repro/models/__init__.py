"""Models: the registry of base models (paper and mini), their LoRA recipes and training defaults."""

from aspo_repro.models.registry import (
    LoraRecipe,
    ModelSpec,
    TrainingDefaults,
    all_models,
    get_model_spec,
    model_names,
    register_model,
)

__all__ = [
    "LoraRecipe",
    "ModelSpec",
    "TrainingDefaults",
    "all_models",
    "get_model_spec",
    "model_names",
    "register_model",
]
