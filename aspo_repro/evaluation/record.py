"""The result an evaluation writes: its scores, what is missing and why, and its provenance (the
model, adapter, lmms-eval and task versions, raw outputs, protocol, judges, and what the training
run that made the model recorded about itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from aspo_repro.evaluation.lmms_model import loaded_dtype, model_fingerprint
from aspo_repro.evaluation.normalise import Outcome
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.files import warn
from aspo_repro.provenance import provenance
from aspo_repro.results import EvalResult


def lmms_eval_version() -> str:
    return metadata.version("lmms_eval")


@dataclass
class Progress:
    """What running the benchmarks gave, by benchmark name."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    raw_paths: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    task_versions: dict[str, Any] = field(default_factory=dict)


def eval_result(settings: EvalSettings, progress: Progress, missing: dict[str, str], model, adapter_name: str | None,
                total_seconds: float) -> EvalResult:
    """The result of one evaluation; ``missing`` names the benchmarks that could not run, and why."""
    missing = {**missing, **{name: o.missing for name, o in progress.outcomes.items() if o.missing}}
    return EvalResult(
        run=settings.run,
        scores={name: o.score for name, o in progress.outcomes.items() if o.score is not None},
        provenance={
            **provenance(),
            "model_dir": str(settings.model_dir), "model_fingerprint": model_fingerprint(settings.model_dir),
            "adapter": adapter_name, "lmms_eval_version": lmms_eval_version(),
            "task_versions": progress.task_versions, "raw_outputs": progress.raw_paths, "limit": settings.limit,
            "benchmark_dir": str(settings.benchmark_dir) if settings.benchmark_dir else None,
            "device": settings.device, "dtype": loaded_dtype(model),
            "protocol": settings.protocol.name if settings.profile_kind.uses_lmms_eval_tasks else None,
            "datasets": str(settings.dataset_dir) if settings.dataset_dir else None,
            "max_new_tokens": settings.max_new_tokens,
            "judges": {name: o.score.judge for name, o in progress.outcomes.items() if o.score and o.score.judge},
        },
        extra={
            "missing": missing,
            "details": {name: o.details for name, o in progress.outcomes.items()},
            "seconds": {**progress.seconds, "total": total_seconds},
            "training": training_summary(settings.model_dir),
        },
    )


def training_summary(model_dir: Path) -> dict[str, Any] | None:
    """What the training run that made ``model_dir`` (its ``merged/`` output) recorded about itself:
    settings, the drift on its held-out pairs (``training/drift.py``) and where its similarity weights
    came from, with their AUC against the exact judge where it was measured; None for a base model."""
    from aspo_repro.training.run_directory import record_of_merged_model

    record = record_of_merged_model(model_dir, warn)
    if record is None:
        return None
    config = record.get("config") or {}
    return {
        "run_key": record.get("run_key"),
        "method": (record.get("method") or {}).get("name"),
        "learning_rate": config.get("learning_rate"),
        "beta": (record.get("method") or {}).get("beta"),
        "steps": record.get("steps"),
        "trained_pairs": (record.get("data") or {}).get("trained_pairs"),
        "held_out": record.get("held_out"),
        "similarity": record.get("similarity"),
    }
