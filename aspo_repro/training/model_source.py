"""Which model a run trains: a registry name or a model directory, its family and recipe.

A registry name (``aspo_repro.models``) brings its LoRA recipe and training settings. A
directory written by ``save_pretrained`` is accepted too: its family comes from its config, and
it trains with the recipe of the registry's mini model of that family (the paper model's when no
mini model of the family is registered); a training YAML can override every value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.models import (
    LoraRecipe,
    ModelSpec,
    TrainingDefaults,
    all_models,
    get_model_spec,
    model_names,
)
from aspo_repro.storage import stable_hash

MODEL_TYPES = {"llava": "llava", "instructblip": "instructblip"}
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class ModelChoice:
    name: str  # the registry name, or the directory as given
    family: str
    lora: LoraRecipe
    training: TrainingDefaults
    spec: ModelSpec | None = None
    directory: Path | None = None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "family": self.family,
            "source": self.spec.source if self.spec else str(self.directory),
            "profile": self.spec.profile if self.spec else None,
            "lora_recipe": {
                "r": self.lora.r,
                "alpha": self.lora.alpha,
                "target_modules": list(self.lora.target_modules),
                "module_scope": self.lora.module_scope,
            },
        }


def resolve_model(name_or_dir: str) -> ModelChoice:
    if name_or_dir in model_names():
        spec = get_model_spec(name_or_dir)
        return ModelChoice(spec.name, spec.family, spec.lora, spec.training, spec=spec)
    directory = Path(name_or_dir)
    if not (directory / "config.json").is_file():
        raise UserError(
            f"model {name_or_dir!r} is neither a registered model ({', '.join(model_names())}) "
            "nor a directory holding config.json"
        )
    family = _directory_family(directory)
    recipe_spec = _recipe_for(family)
    return ModelChoice(
        str(directory), family, recipe_spec.lora, recipe_spec.training, directory=directory
    )


def _directory_family(directory: Path) -> str:
    model_type = json.loads((directory / "config.json").read_text()).get("model_type")
    if model_type not in MODEL_TYPES:
        raise UserError(
            f"{directory}: model_type {model_type!r} is not a supported family ({', '.join(MODEL_TYPES)})"
        )
    return MODEL_TYPES[model_type]


def _recipe_for(family: str) -> ModelSpec:
    of_family = [spec for spec in all_models() if spec.family == family]
    mini = [spec for spec in of_family if spec.profile == "mini"]
    return (mini or of_family)[0]


def load_model_and_processor(choice: ModelChoice, precision: str = "fp32"):
    """The model (eval mode) and processor; registry models through ``aspo_repro.models.loading``."""
    import torch

    dtype = getattr(torch, DTYPES[precision])
    if choice.directory is not None:
        return _from_directory(choice.directory, dtype)
    try:
        from aspo_repro.models.loading import load_model_and_processor as load_registered
    except ImportError:
        if choice.spec.profile != "paper":
            raise UserError(
                f"model {choice.name!r} needs aspo_repro.models.loading, which is not installed"
            ) from None
        return _from_directory(choice.spec.source, dtype)
    return load_registered(choice.name, dtype=dtype)


def _from_directory(source, dtype):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        model = AutoModelForImageTextToText.from_pretrained(str(source), dtype=dtype)
        processor = AutoProcessor.from_pretrained(str(source))
    except OSError as error:
        raise UserError(f"cannot load model {source}: {error}") from None
    return model, processor


def model_fingerprint(model) -> str:
    """A cheap identity of the loaded weights: config and (name, size) of each file in its directory."""
    source = Path(str(getattr(model, "name_or_path", "") or ""))
    files = []
    if source.is_dir():
        files = sorted(
            (p.relative_to(source).as_posix(), p.stat().st_size)
            for p in source.rglob("*")
            if p.is_file()
        )
    return stable_hash({"config": model.config.to_dict(), "files": files})
