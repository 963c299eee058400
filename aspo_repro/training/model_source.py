"""Which model a run trains: a registry name or a model directory, its family and recipe.

A registry name (``aspo_repro.models``) brings its LoRA recipe and training settings. A
directory written by ``save_pretrained`` is accepted too: its family comes from its config, and
it trains with the recipe of the registry's mini model of that family (the paper model's when no
mini model of the family is registered); a training YAML can override every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.files import read_json_object
from aspo_repro.models import (
    LoraRecipe,
    ModelSpec,
    TrainingDefaults,
    all_models,
    get_model_spec,
    is_model_name,
    model_names,
)
from aspo_repro.models.families import (
    FAMILY_REGISTRY,
    ModelFamily,
    family_of_model_type,
    get_family,
)
from aspo_repro.models.loading import precision_dtype, registry_checkpoint
from aspo_repro.storage import stable_hash


@dataclass(frozen=True)
class ModelChoice:
    name: str  # the registry name, or the directory as given
    family: str
    lora: LoraRecipe
    training: TrainingDefaults
    spec: ModelSpec | None = None
    directory: Path | None = None

    @property
    def family_spec(self) -> ModelFamily:
        return get_family(self.family)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "family": self.family,
            "source": str(self.directory) if self.directory else self.spec.source,
            "profile": self.spec.profile if self.spec else None,
            "lora_recipe": {
                "r": self.lora.r,
                "alpha": self.lora.alpha,
                "target_modules": list(self.lora.target_modules),
                "module_scope": self.lora.module_scope,
            },
        }


def resolve_model(name_or_dir: str, world=None) -> ModelChoice:
    """A registry name (its checkpoint in ``world``: a mini world or a ``HubCache``; the default one
    when None) or a directory."""
    if is_model_name(name_or_dir):
        spec = get_model_spec(name_or_dir)
        directory = registry_checkpoint(spec, world) if world is not None else None
        return ModelChoice(spec.name, spec.family, spec.lora, spec.training, spec=spec, directory=directory)
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
    model_type = read_json_object(directory / "config.json", "model config").get("model_type")
    family = family_of_model_type(model_type)
    if family is None:
        known = ", ".join(family.model_type for family in FAMILY_REGISTRY.values())
        raise UserError(f"{directory}: model_type {model_type!r} is not a supported family ({known})")
    return family.name


def _recipe_for(family: str) -> ModelSpec:
    of_family = [spec for spec in all_models() if spec.family == family]
    lenders = [spec for spec in of_family if spec.profile_kind.lends_recipe_to_directories]
    return (lenders or of_family)[0]


def load_model_and_processor(choice: ModelChoice, precision: str = "fp32", protocol: str | None = None):
    """The model (eval mode) and processor, through ``aspo_repro.models.loading`` (``protocol``: its
    conversation and image processing, as the evaluation under that protocol presents them)."""
    from aspo_repro.models.loading import load_model_and_processor as load

    return load(choice.directory or choice.name, dtype=precision_dtype(precision), protocol=protocol)


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
