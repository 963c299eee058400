"""One training run as a recipe: prepare (names, settings, data; nothing written), set up (model,
data, trainer, claim the run directory), train (resuming), clean up (outputs, provenance).

Where the outputs go and how they are published is ``run_directory.RunDirectory``'s concern;
this module assembles what trains. Started again with the same arguments, a run resumes from
its last complete checkpoint; a finished run is skipped. Bad input is reported before anything
is written.

Fault injection for the kill-and-resume test: with ``ASPO_REPRO_KILL_AT_STEP=N`` in the
environment, the process kills itself (SIGKILL) at the end of optimiser step N.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.methods import Method, get_method
from aspo_repro.provenance import provenance
from aspo_repro.storage import hold_lock, lock_path, sha256_tree, stable_hash
from aspo_repro.training.config import ResolvedSettings, TrainConfig, resolve
from aspo_repro.training.model_source import ModelChoice, resolve_model
from aspo_repro.training.run_directory import ADAPTER, MERGED, METRICS, RunDirectory

KILL_ENV = "ASPO_REPRO_KILL_AT_STEP"
REFERENCE_CACHE = "reference-logps"
# Settings that do not change what a run produces: a finished run is still "the same run" without them.
# The speed switches change results by float rounding only (tests/training/test_optimisations.py).
OUTCOME_NEUTRAL = {
    "tensorboard",
    "keep_checkpoints",
    "dataloader_num_workers",
    "save_steps",
    "shared_prompt",
    "cache_reference_logps",
    "reference_cache_dir",
    "fused_log_probs",
}


@dataclass
class RunOutcome:
    out: Path
    skipped: bool
    record: dict[str, Any] = field(default_factory=dict)
    trainer: Any = None  # the PreferenceTrainer of a run that trained (None when skipped)


@dataclass
class PreparedRun:
    """Everything known before training: what runs, on what, and where it lands."""

    method: Method
    choice: ModelChoice
    settings: ResolvedSettings
    out: Path
    run_key: str
    identity: dict[str, Any]
    preferences: Any
    data_fingerprint: str

    @property
    def directory(self) -> RunDirectory:
        return RunDirectory(self.out, self.run_key)


def train(
    method: str,
    model: str,
    prefs: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    scorer=None,
    log=print,
    world=None,
) -> RunOutcome:
    """Train ``method`` on ``model`` with the preference data in ``prefs``; results in ``out``.

    ``scorer(images, texts) -> similarities`` scores sentences the data holds no similarity for
    (the project's CLIP scorer when None). ``log`` receives one-line progress messages.
    ``world``: the built mini world a mini model name resolves in (the default world when None), or a
    function that builds it, called once the preference data has been checked.
    """
    started = time.time()
    prepared = prepare_run(method, model, prefs, out, config or TrainConfig(), world=world)
    directory = prepared.directory
    finished = directory.finished_record(log)
    if finished is not None:
        log(
            f"skipped: {prepared.out} holds a finished run of these settings (run.json: status complete)"
        )
        directory.remove_checkpoints(keep=prepared.settings.config.keep_checkpoints)
        return RunOutcome(prepared.out, skipped=True, record=finished)
    return _train_prepared(prepared, scorer, log, started)


def prepare_run(
    method: str, model: str, prefs: str | Path, out: str | Path, config: TrainConfig, world=None
) -> PreparedRun:
    """Resolve names and settings and validate the data; nothing is written."""
    from aspo_repro.training.preferences import read_preferences

    preferences = read_preferences(prefs)  # before the model: a mini model may need its world built
    choice = resolve_model(model, world=world() if callable(world) else world)
    chosen_method = get_method(method, **{"beta": choice.training.beta, **config.method_options})
    settings = resolve(config.with_overrides(learning_rate=chosen_method.learning_rate), choice.training, choice.lora,
                       processes=launched_processes())
    # datasets writes the caches of selections and maps of a saved dataset into its directory: not data
    fingerprint = sha256_tree(preferences.directory, skip="cache-*.arrow")
    identity = {
        "method": chosen_method.as_dict(),
        "model": choice.describe(),
        "config": {k: v for k, v in settings.as_dict().items() if k not in OUTCOME_NEUTRAL},
        "data_fingerprint": fingerprint,
    }
    return PreparedRun(
        chosen_method,
        choice,
        settings,
        Path(out),
        stable_hash(identity),
        identity,
        preferences,
        fingerprint,
    )


def _train_prepared(prepared: PreparedRun, scorer, log, started: float) -> RunOutcome:
    recipe = PreferenceRecipe(prepared, scorer, log, started)
    try:
        recipe.setup()
        recipe.train()
        record = recipe.cleanup()
    finally:
        recipe.release()
    return RunOutcome(prepared.out, skipped=False, record=record, trainer=recipe.trainer)


class PreferenceRecipe:
    """Set up, train, clean up one prepared run; what the steps share lives on the recipe."""

    def __init__(self, prepared: PreparedRun, scorer, log, started: float) -> None:
        self.prepared = prepared
        self.directory = prepared.directory
        self.scorer = scorer  # the caller's, for similarities the data does not hold
        self.log = log
        self.started = started
        self.trainer = None
        self.processor = None
        self.model_fingerprint = ""
        self.scorer_used = None  # the cached scorer the collator used, None when the data had all
        self.resume_from: Path | None = None
        self.held_out = None  # the formatted pairs kept out of training (TrainConfig.held_out)
        self._lock = None  # the run directory's lock, held by the main process while it trains

    def setup(self) -> None:
        from aspo_repro.training.drift import split_held_out
        from aspo_repro.training.model_source import load_model_and_processor, model_fingerprint

        check_processes_form_one_job(self.prepared.settings.config.precision)
        prepared = self.prepared
        model, self.processor = load_model_and_processor(
            prepared.choice, prepared.settings.config.precision, prepared.settings.config.protocol
        )
        self.model_fingerprint = model_fingerprint(model)
        dataset, self.held_out = split_held_out(formatted_dataset(prepared, self.processor),
                                                prepared.settings.config.held_out)
        self.trainer, self.scorer_used = build_trainer(
            prepared, model, self.processor, dataset, self.scorer, log=self.log
        )
        self.resume_from = self._claim_directory()
        if self.resume_from is not None:
            self.log(f"resuming from {self.resume_from.name}")
        skipped = prepared.preferences.skipped
        if skipped.total:
            self.log(f"skipped {skipped.total} pair(s): {skipped.describe()}")

    def _claim_directory(self) -> Path | None:
        """The main process claims the directory; every process then reads where to resume."""
        accelerator = self.trainer.accelerator
        if accelerator.is_main_process:
            # held until the process ends: a second process training into the same directory stops here
            self._lock = hold_lock(lock_path(self.prepared.out), f"the training run {self.prepared.out}")
            self.directory.claim(self.prepared.identity)
        accelerator.wait_for_everyone()
        return self.directory.resume_point()

    def train(self) -> None:
        """Train (resuming), or, when the checkpoint is the last step, only load it.

        The Trainer resumed at its final step would run one step more than asked.
        """
        from transformers import TrainerState

        trainer, resume_from = self.trainer, self.resume_from
        state = (
            TrainerState.load_from_json(str(resume_from / "trainer_state.json"))
            if resume_from
            else None
        )
        if state is None or state.global_step < state.max_steps:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
            return
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(trainer.model, load_file(resume_from / "adapter_model.safetensors"))
        trainer.state = state

    def cleanup(self) -> dict[str, Any]:
        """Adapter, merged model, metrics, then run.json; written by the main process only."""
        # On every process: under ZeRO-3 saving gathers the adapter's shards.
        self.trainer.save_model(str(self.directory.adapter_staging))
        record: dict[str, Any] = {}
        if self.trainer.accelerator.is_main_process:
            held_out = self._measure_held_out()
            record = self._write_outputs(held_out)
            self.log(
                f"trained {self.prepared.method.name} on {self.prepared.choice.name}: "
                f"{record['steps']} steps, outputs in {self.prepared.out}"
            )
        self.trainer.accelerator.wait_for_everyone()
        return record

    def _measure_held_out(self) -> dict[str, Any] | None:
        """The drift on the held-out pairs (``training/drift.py``), None when none were kept out."""
        if self.held_out is None:
            return None
        from aspo_repro.training.drift import measure_drift

        measured = measure_drift(self.trainer, self.held_out, self.prepared.method.beta)
        drift = measured["chosen_drift_per_token"]["mean"]
        self.log(f"held-out pairs: {measured['pairs']}; chosen drift {drift:+.4f} nats per token, "
                 f"preference accuracy {measured['reward_accuracy']['mean']:.3f}")
        return {"share": self.prepared.settings.config.held_out, **measured}

    def _write_outputs(self, held_out: dict[str, Any] | None = None) -> dict[str, Any]:
        from aspo_repro.training.merge import save_merged

        prepared, directory = self.prepared, self.directory
        directory.publish_adapter()
        with directory.merged_model() as tmp:
            merged = save_merged(prepared.choice, directory.adapter, tmp)
        steps = step_metrics(self.trainer.state.log_history)
        directory.write_metrics(steps)
        record = self._run_record(steps, held_out, merged)
        directory.write_record(record)
        directory.remove_checkpoints(keep=prepared.settings.config.keep_checkpoints)
        return record

    def release(self) -> None:
        """Let go of the run directory (after the outputs, or when the run failed)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _run_record(
        self, steps: list[dict[str, Any]], held_out: dict[str, Any] | None = None, merged: dict[str, str] | None = None
    ) -> dict[str, Any]:
        prepared, trainer = self.prepared, self.trainer
        preferences = prepared.preferences
        return {
            "status": "complete",
            "run_key": prepared.run_key,
            "method": prepared.method.as_dict(),
            "model": {**prepared.choice.describe(), "fingerprint": self.model_fingerprint},
            "config": prepared.settings.as_dict(),
            "seed": prepared.settings.config.seed,
            "data": {
                "directory": str(preferences.directory),
                "fingerprint": prepared.data_fingerprint,
                "manifest": preferences.manifest,
                "rows": preferences.total_rows,
                "trained_pairs": len(trainer.train_dataset),
                "held_out_pairs": len(self.held_out) if self.held_out is not None else 0,
                "skipped": preferences.skipped.summary(),
            },
            "held_out": held_out,
            "similarity": _similarity_record(prepared, self.scorer_used),
            "reference_logps": trainer.reference_pass.as_dict() if trainer.reference_pass else None,
            "steps": trainer.state.global_step,
            "batch": prepared.settings.batch.as_dict(),
            "processes": {"count": trainer.accelerator.num_processes,
                          "distributed_type": trainer.accelerator.distributed_type.value,
                          "backend": getattr(trainer.accelerator.state, "backend", None)},
            "resumed_from_step": int(self.resume_from.name.split("-")[-1]) if self.resume_from else None,
            "final_metrics": steps[-1] if steps else {},
            "wall_time_s": round(time.time() - self.started, 3),
            "outputs": {"adapter": ADAPTER, "merged": MERGED, "metrics": METRICS},
            "merged": merged,  # the dtype it was saved in, its base's, and the merge's
            **provenance(),
        }


def check_processes_form_one_job(precision: str) -> None:
    """Processes started together (``WORLD_SIZE``) must form one job, or each would train alone
    and all would write the same run directory: accelerate falls back to one process each when
    its config asks for devices the machine lacks and the CPU is not named (``use_cpu``)."""
    from accelerate import PartialState

    launched = launched_processes()
    state = PartialState(cpu=trains_on_cpu_only(precision))  # the state the Trainer then shares
    if launched > 1 and state.num_processes != launched:
        raise UserError(
            f"started as {launched} processes, but they do not form one training job (each sees "
            f"{state.num_processes}, distributed type {state.distributed_type.value}): the accelerate "
            "config asks for devices this machine does not have; launch with a config for this machine"
        )


def formatted_dataset(prepared: PreparedRun, processor):
    from aspo_repro.training.formatting import format_preferences

    config = prepared.settings.config
    return format_preferences(
        prepared.preferences,
        processor,
        prepared.choice.family,
        config.max_length,
        config.on_overlong,
        judge_scores=prepared.method.uses_judge,
    )


def build_trainer(prepared: PreparedRun, model, processor, dataset, scorer, log=print):
    """The PreferenceTrainer of a run; with the reference cache on, its dataset carries the
    reference log-probs (``trainer.reference_pass`` says where they came from)."""
    from aspo_repro.training.collator import UnitCollator
    from aspo_repro.training.lora import lora_config
    from aspo_repro.training.trainer import PreferenceTrainer

    method, settings = prepared.method, prepared.settings
    config = settings.config
    cached = _similarity_scorer(method, config, prepared.preferences, scorer)
    cache_identity = (
        _reference_identity(prepared, model, dataset) if config.cache_reference_logps else None
    )
    collator = UnitCollator(
        processor=processor,
        max_length=config.max_length,
        granularity=method.unit.name if method.uses_units else None,
        needs_similarity=method.uses_similarity,
        scorer=cached,
        use_data_similarity=config.similarity_source == "data" or method.uses_judge,
        pack_pairs=shares_prompt(prepared, model),
    )
    trainer = PreferenceTrainer(
        model=model,
        args=build_dpo_config(settings, method, prepared.directory.checkpoints),
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora_config(settings, model),
        callbacks=_callbacks(prepared),
        method=method,
        fused_log_probs=config.fused_log_probs,
    )
    trainer.reference_pass = _attach_reference(prepared, trainer, cache_identity, log)
    return trainer, cached


def shares_prompt(prepared: PreparedRun, model) -> bool:
    """Whether a batch is packed one sequence per pair: where it is exact and the model takes it."""
    implementation = model.config.get_text_config()._attn_implementation
    return (
        prepared.settings.config.shared_prompt
        and prepared.choice.family == "llava"
        and prepared.settings.lora_dropout == 0
        and implementation in ("sdpa", "eager")
    )


def _reference_identity(prepared: PreparedRun, model, dataset) -> dict[str, Any]:
    """What the reference log-probs depend on: weights, model files, data, formatting, layout."""
    from aspo_repro.training.model_source import model_fingerprint
    from aspo_repro.training.reference_cache import weights_digest

    config = prepared.settings.config
    return {
        "weights": weights_digest(model),
        "model": model_fingerprint(model),
        "data": prepared.data_fingerprint,
        "rows": stable_hash(dataset["id"]),
        "texts": stable_hash([dataset[column] for column in ("prompt", "chosen", "rejected")]),
        "max_length": config.max_length,
        "on_overlong": config.on_overlong,
        "precision": config.precision,
        "packed": shares_prompt(prepared, model),
    }


def _attach_reference(prepared: PreparedRun, trainer, identity, log):
    """Cached reference log-probs on the trainer's dataset, or why the reference runs inline."""
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
    path = reference_cache_dir(prepared) / f"{prepared.choice.family}-{key[:24]}.safetensors"
    trainer.train_dataset, record = attach_reference_logps(
        trainer, trainer.train_dataset, path, key, log
    )
    return record


def reference_cache_dir(prepared: PreparedRun) -> Path:
    """The configured directory, else ``reference-logps`` beside the preference data, else (not
    writable) inside the run's checkpoints."""
    configured = prepared.settings.config.reference_cache_dir
    if configured is not None:
        return Path(configured)
    beside = prepared.preferences.directory.parent / REFERENCE_CACHE
    try:
        beside.mkdir(parents=True, exist_ok=True)
    except OSError:
        return prepared.directory.checkpoints / REFERENCE_CACHE
    return beside if os.access(beside, os.W_OK) else prepared.directory.checkpoints / REFERENCE_CACHE


def _similarity_scorer(method: Method, config: TrainConfig, preferences, scorer):
    """A cached scorer when some similarity must be computed; None when the data holds them all.

    Similarities computed here come from the CLIP the data was scored with (its manifest), unless
    the ``clip`` setting names another, so that on-the-fly and stored similarities agree.
    """
    from aspo_repro.training.similarity import CachedScorer, default_scorer

    if not method.uses_similarity or method.uses_judge:  # the judge's verdicts are in the data
        return None
    if method.unit.stored_in_data and preferences.has_similarity and config.similarity_source == "data":
        return None
    return CachedScorer(scorer or default_scorer(config.clip or data_clip(preferences.manifest)))


def data_clip(manifest: dict[str, Any] | None) -> str | None:
    """The open_clip directory the preference data was scored with, if it names one that exists."""
    clip = ((manifest or {}).get("clip") or {}).get("clip")
    return clip if isinstance(clip, str) and Path(clip).is_dir() else None


def build_dpo_config(settings: ResolvedSettings, method: Method, output_dir: Path):
    """TRL's ``DPOConfig`` for a run: the Trainer's side of the settings."""
    from trl import DPOConfig

    config = settings.config
    return DPOConfig(
        output_dir=str(output_dir),
        seed=config.seed,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        num_train_epochs=settings.epochs,
        max_steps=config.max_steps or -1,
        lr_scheduler_type=settings.scheduler,
        # transformers 5 reads a float in [0, 1) as a fraction of the steps (its warmup_ratio is gone)
        warmup_steps=config.warmup_ratio,
        weight_decay=settings.weight_decay,
        max_grad_norm=config.max_grad_norm,
        optim=config.optimizer,
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        use_cpu=trains_on_cpu_only(config.precision),
        gradient_checkpointing=config.gradient_checkpointing,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        report_to=[],
        beta=method.beta,
        loss_type=["sigmoid"],
        max_length=config.max_length,
        dataloader_num_workers=config.dataloader_num_workers,
    )


def launched_processes() -> int:
    """How many processes were started together (``accelerate launch`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def trains_on_cpu_only(precision: str) -> bool:
    """Whether the Trainer must be told the CPU is meant (``use_cpu``) on a machine with no GPU:
    Transformers refuses bf16 there otherwise, and processes started together (DDP over gloo)
    only form one job when accelerate knows they run on the CPU.

    (A GPU without bf16 still gets Transformers' own error.)
    """
    import torch
    from transformers.utils import is_torch_bf16_gpu_available

    if torch.cuda.is_available():
        return False
    return launched_processes() > 1 or (precision == "bf16" and not is_torch_bf16_gpu_available())


def _callbacks(prepared: PreparedRun) -> list:
    callbacks = []
    if prepared.settings.config.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        callbacks.append(
            TensorBoardCallback(SummaryWriter(log_dir=str(prepared.directory.tensorboard)))
        )
    if os.environ.get(KILL_ENV):
        callbacks.append(_kill_at_step_callback(int(os.environ[KILL_ENV])))
    return callbacks


def _kill_at_step_callback(step: int):
    from transformers import TrainerCallback

    class KillAtStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    return KillAtStep()


def step_metrics(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-step training logs (the Trainer's final summary left out)."""
    return [entry for entry in log_history if "loss" in entry and "step" in entry]


def _similarity_record(prepared: PreparedRun, scorer) -> dict[str, Any]:
    if not prepared.method.uses_similarity:
        return {"source": "unused"}
    if prepared.method.uses_judge:
        return {"source": "the exact judge's verdicts in the data (oracle)"}
    return {
        "source": "computed" if scorer is not None else "data",
        "scored_pairs": len(scorer) if scorer is not None else 0,
    }
