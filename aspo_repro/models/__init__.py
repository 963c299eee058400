"""Models: the registry of base models (paper and mini), their LoRA recipes and training defaults,
the toy architectures built from transformers configs (``builders``), loading by registry name or
directory (``loading``), and prompting / batched greedy answers (``prompting``)."""

from aspo_repro.models.loading import load_model_and_processor, resolve_source
from aspo_repro.models.registry import (
    LoraRecipe,
    ModelSpec,
    TrainingDefaults,
    all_models,
    get_model_spec,
    is_model_name,
    model_names,
    register_model,
)

__all__ = [
    "LoraRecipe",
    "ModelSpec",
    "TrainingDefaults",
    "all_models",
    "get_model_spec",
    "is_model_name",
    "load_model_and_processor",
    "model_names",
    "register_model",
    "resolve_source",
]
