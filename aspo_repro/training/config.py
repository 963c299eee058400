"""Training settings as a typed dataclass, read from optional YAML (``configs/training/``).

Every field left ``None`` takes the model's own setting from the registry (``TrainingDefaults``
and ``LoraRecipe``: the paper's section 4.1 for the paper models, a scaled recipe for the mini
ones), so a YAML file holds only what a run changes. ``resolve`` fills those in and returns the
concrete values that a run records in ``run.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.methods import METHOD_OPTIONS
from aspo_repro.models.loading import PRECISIONS
from aspo_repro.repository import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "configs" / "training"
OVERLONG_POLICIES = ("skip", "error", "truncate")
SIMILARITY_SOURCES = ("data", "compute")


@dataclass(frozen=True)
class TrainConfig:
    """What one training run may change; ``None`` means "the model's registry setting"."""

    seed: int = 42
    learning_rate: float | None = None
    # Pairs per optimiser step over every process (the recipe); None: the model's (80 for LLaVA-1.5:
    # 10 per GPU on the paper's 8). Per-device batch and gradient accumulation derive from it and the
    # processes a run gets (split_batch); accumulation is never set.
    global_batch_size: int | None = None
    # The most pairs one device takes at once (a memory bound): the model's per-device batch when None.
    per_device_batch_size: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    scheduler: str | None = None
    warmup_ratio: float = 0.0
    weight_decay: float | None = None
    max_grad_norm: float = 1.0
    optimizer: str = "adamw_torch"
    max_length: int = 2048
    on_overlong: str = "skip"
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_target_modules: tuple[str, ...] | None = None
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 50
    keep_checkpoints: bool = False
    tensorboard: bool = False
    similarity_source: str = "data"
    # CLIP for similarities the data lacks: an open_clip directory (the mini world's), or the paper's when None.
    clip: str | None = None
    dataloader_num_workers: int = 0
    # Share of the pairs kept out of training and measured after it (training/drift.py): how far the
    # policy moved from the reference on pairs it never saw. 0: train on every pair, measure nothing.
    # The split is held in memory (the mini world's data is small; the paper's configs leave it at 0).
    held_out: float = 0.0
    method_options: dict[str, Any] = field(default_factory=dict)
    # Speed switches; each leaves the results unchanged up to float rounding (tests/training/test_optimisations.py).
    # One sequence per pair, its prompt and image once (LLaVA family, LoRA dropout 0; see training/packing.py).
    shared_prompt: bool = True
    # Reference log-probs computed once per model and data and read from disk (training/reference_cache.py).
    cache_reference_logps: bool = True
    # Where that cache lives: "reference-logps" beside the preference directory when None.
    reference_cache_dir: str | None = None
    # Log-probs through TRL's fused LM head, never materialising (tokens x vocab) logits.
    fused_log_probs: bool = True
    # The evaluation protocol whose conversation a paper checkpoint is trained in (evaluation/protocols.py:
    # llava = LLaVA-1.5's vicuna_v1, as SeVa trains); None: the checkpoint's own chat template.
    protocol: str | None = None

    def __post_init__(self) -> None:
        validate_config(self)

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the given fields changed; ``None`` values are ignored."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise UserError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes) if changes else self

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["lora_target_modules"] is not None:
            data["lora_target_modules"] = list(data["lora_target_modules"])
        for late_field in ("protocol", "global_batch_size"):
            if data[late_field] is None:
                del data[late_field]  # named only when set: runs recorded before it existed keep their key
        return data


def validate_config(config: TrainConfig) -> None:
    def choice(value: object, allowed: tuple[str, ...], what: str) -> None:
        if value not in allowed:
            raise UserError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")

    def positive(value: float | None, what: str) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (YAML reads 2e-4 as text: write 2.0e-4)" if isinstance(value, str) else ""
            raise UserError(f"{what} must be a positive number; got {value!r}{hint}")
        if not value > 0:
            raise UserError(f"{what} must be positive; got {value!r}")

    choice(config.precision, tuple(PRECISIONS), "precision")
    if config.protocol is not None:
        from aspo_repro.evaluation.protocols import get_protocol

        get_protocol(config.protocol)
    choice(config.on_overlong, OVERLONG_POLICIES, "on_overlong")
    choice(config.similarity_source, SIMILARITY_SOURCES, "similarity_source")
    for name in (
        "learning_rate",
        "global_batch_size",
        "per_device_batch_size",
        "epochs",
        "max_steps",
        "max_length",
        "lora_r",
        "lora_alpha",
        "logging_steps",
        "save_steps",
    ):
        positive(getattr(config, name), name)
    if config.lora_dropout is not None and not 0 <= config.lora_dropout < 1:
        raise UserError(f"lora_dropout must lie in [0, 1); got {config.lora_dropout}")
    if not 0 <= config.held_out < 0.5:
        raise UserError(f"held_out must lie in [0, 0.5) (a share of the pairs); got {config.held_out}")
    if not 0 <= config.warmup_ratio < 1:
        raise UserError(f"warmup_ratio must lie in [0, 1); got {config.warmup_ratio}")
    if not isinstance(config.method_options, dict):
        raise UserError("method_options must be a mapping, e.g. {alpha: 0.25}")
    unknown = set(config.method_options) - set(METHOD_OPTIONS)
    if unknown:
        raise UserError(
            f"unknown method option(s) {', '.join(sorted(unknown))}; allowed: {', '.join(METHOD_OPTIONS)}"
        )


def config_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the name of a file in ``configs/training/`` (``paper``, ``cpu``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = CONFIG_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise UserError(
        f"training config {str(name_or_path)!r} not found; give a YAML path or one of: {', '.join(known)}"
    )


def load_train_config(name_or_path: str | Path | None = None) -> TrainConfig:
    """The defaults, overridden by a YAML file's keys (the dataclass fields) when one is given."""
    if name_or_path is None:
        return TrainConfig()
    from aspo_repro.files import dataclass_from_mapping, read_yaml_mapping

    path = config_path(name_or_path)
    data = read_yaml_mapping(path, "training config")
    return dataclass_from_mapping(TrainConfig, data, f"training config {path}")


@dataclass(frozen=True)
class BatchSplit:
    """A global batch as the hardware runs it: per-device micro-batch x accumulation x processes."""

    global_batch_size: int
    processes: int
    per_device_batch_size: int
    gradient_accumulation_steps: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def split_batch(global_batch_size: int, per_device_limit: int, processes: int) -> BatchSplit:
    """``global_batch_size`` pairs per optimiser step over ``processes`` processes, each device taking
    at most ``per_device_limit`` at once: the largest such micro-batch dividing a process's share,
    and as many accumulation steps as make up the share. Every launcher's runs split this way."""
    if global_batch_size % processes:
        raise UserError(
            f"a global batch of {global_batch_size} pairs cannot be split over {processes} processes; "
            f"set global_batch_size to a multiple of {processes}, or train.processes to a divisor of {global_batch_size}"
        )
    share = global_batch_size // processes
    per_device = max(d for d in range(1, min(share, per_device_limit) + 1) if share % d == 0)
    return BatchSplit(global_batch_size, processes, per_device, share // per_device)


def batch_split(config: TrainConfig, training_defaults, processes: int) -> BatchSplit:
    """The split of a run of ``config`` on a model with ``training_defaults`` in ``processes`` processes."""
    model_limit = training_defaults.batch_size
    global_batch = config.global_batch_size or training_defaults.global_batch_size or model_limit
    return split_batch(global_batch, min(model_limit, config.per_device_batch_size or model_limit), processes)


@dataclass(frozen=True)
class ResolvedSettings:
    """The concrete values of one run: the config with every registry default filled in."""

    config: TrainConfig
    learning_rate: float
    batch: BatchSplit
    epochs: float
    scheduler: str
    weight_decay: float
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: tuple[str, ...]
    lora_module_scope: str

    @property
    def per_device_batch_size(self) -> int:
        return self.batch.per_device_batch_size

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.batch.gradient_accumulation_steps

    def as_dict(self) -> dict[str, Any]:
        data = self.config.as_dict()
        data.update(
            {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("config", "batch")}
        )
        data["lora_target_modules"] = list(self.lora_target_modules)
        data.update(per_device_batch_size=self.per_device_batch_size,
                    gradient_accumulation_steps=self.gradient_accumulation_steps)
        if self.batch.processes > 1:  # one process: keyed as before, its global batch is per-device x accumulation
            data["global_batch_size"] = self.batch.global_batch_size
        return data


def resolve(config: TrainConfig, training_defaults, lora_recipe, processes: int = 1) -> ResolvedSettings:
    """Fill the config's ``None`` fields from a model's ``TrainingDefaults`` and ``LoraRecipe``, the
    batch split over ``processes`` processes."""

    def pick(value, default):
        return default if value is None else value

    return ResolvedSettings(
        config=config,
        learning_rate=pick(config.learning_rate, training_defaults.learning_rate),
        batch=batch_split(config, training_defaults, processes),
        epochs=pick(config.epochs, training_defaults.epochs),
        scheduler=pick(config.scheduler, training_defaults.scheduler),
        weight_decay=pick(config.weight_decay, training_defaults.weight_decay),
        lora_r=pick(config.lora_r, lora_recipe.r),
        lora_alpha=pick(config.lora_alpha, lora_recipe.alpha),
        lora_dropout=pick(config.lora_dropout, lora_recipe.dropout),
        lora_target_modules=tuple(pick(config.lora_target_modules, lora_recipe.target_modules)),
        lora_module_scope=lora_recipe.module_scope,
    )
