"""Where a run's reference log-probs come from: the cache file its identity names
(``reference_cache.py`` computes or reads it), or the reference forward inline at each step."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aspo_repro.storage import stable_hash
from aspo_repro.training.config import TrainConfig

REFERENCE_CACHE = "reference-logps"


def reference_identity(
    model, dataset, config: TrainConfig, data_fingerprint: str, packed: bool
) -> dict[str, Any]:
    """What the reference log-probs depend on: weights, model files, data, formatting, layout."""
    from aspo_repro.training.model_source import model_fingerprint
    from aspo_repro.training.reference_cache import weights_digest

    return {
        "weights": weights_digest(model),
        "model": model_fingerprint(model),
        "data": data_fingerprint,
        "rows": stable_hash(dataset["id"]),
        "texts": stable_hash([dataset[column] for column in ("prompt", "chosen", "rejected")]),
        "max_length": config.max_length,
        "on_overlong": config.on_overlong,
        "precision": config.precision,
        "packed": packed,
    }


def attach_reference(
    trainer, identity: dict[str, Any] | None, family: str, cache_dir: Callable[[], Path], log
):
    """Cached reference log-probs on the trainer's dataset, or why the reference runs inline.

    ``identity`` is None when the run does not cache them (``cache_reference_logps`` off);
    ``cache_dir`` is asked only when the cache serves the run (it may create the directory)."""
    from aspo_repro.training.reference_cache import (
        ReferencePass,
        attach_reference_logps,
        cache_key,
        unsupported_reason,
    )

    if identity is None:
        return ReferencePass("inline", reason="cache_reference_logps is off")
    reason = unsupported_reason(trainer)
    if reason is not None:
        log(f"reference log-probs computed each step: the cache does not support {reason}")
        return ReferencePass("inline", reason=reason)
    key = cache_key(identity)
    path = cache_dir() / f"{family}-{key[:24]}.safetensors"
    trainer.train_dataset, record = attach_reference_logps(
        trainer, trainer.train_dataset, path, key, log
    )
    return record


def reference_cache_dir(config: TrainConfig, preferences_dir: Path, checkpoints: Path) -> Path:
    """The configured directory, else ``reference-logps`` beside the preference data, else (not
    writable) inside the run's checkpoints."""
    if config.reference_cache_dir is not None:
        return Path(config.reference_cache_dir)
    beside = preferences_dir.parent / REFERENCE_CACHE
    try:
        beside.mkdir(parents=True, exist_ok=True)
    except OSError:
        return checkpoints / REFERENCE_CACHE
    return beside if os.access(beside, os.W_OK) else checkpoints / REFERENCE_CACHE
