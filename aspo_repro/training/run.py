"""One training run as a recipe: prepare (names, settings, data; nothing written), set up (model,
data, trainer, claim the run directory), train (resuming), clean up (outputs, provenance).

Where the outputs go and how they are published is ``run_directory.RunDirectory``'s concern;
this module assembles what trains from its neighbours: ``processes`` (the processes a run trains
in), ``dpo_config`` (TRL's arguments), ``similarity`` (the scorer), ``reference_source`` (cached or
inline reference log-probs), ``callbacks``. Started again with the same arguments, a run resumes
from its last complete checkpoint; a finished run is skipped. Bad input is reported before
anything is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.methods import Method, get_method
from aspo_repro.provenance import provenance
from aspo_repro.storage import sha256_tree, stable_hash
from aspo_repro.training.config import ResolvedSettings, TrainConfig, resolve
from aspo_repro.training.model_source import ModelChoice, resolve_model
from aspo_repro.training.processes import check_processes_form_one_job, launched_processes
from aspo_repro.training.run_directory import ADAPTER, MERGED, METRICS, RunDirectory
from aspo_repro.training.similarity import similarity_record

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
    scorer_checkpoint: Path | None = None  # the scorer a method that scores every sentence again uses

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
    world = world() if callable(world) else world
    choice = resolve_model(model, world=world)
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
    scorer_checkpoint = None
    if chosen_method.recomputes_similarity:  # a retrained scorer gives other weights: not the same run
        from aspo_repro.training.similarity import own_checkpoint

        scorer_checkpoint = own_checkpoint(chosen_method, preferences.manifest, world)
        identity["scorer_fingerprint"] = sha256_tree(scorer_checkpoint)
    return PreparedRun(
        chosen_method,
        choice,
        settings,
        Path(out),
        stable_hash(identity),
        identity,
        preferences,
        fingerprint,
        scorer_checkpoint,
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
        self.trained_pairs = None  # the formatted pairs trained on
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
        self.trained_pairs = dataset
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
            self._lock = self.directory.claim(self.prepared.identity)
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

    def _similarity_auc(self) -> dict[str, Any] | None:
        """How well the similarities ranked the trained chosen sentences against the exact judge, when
        the run weights by them and the data holds the judge's verdicts."""
        from aspo_repro.training.similarity import similarity_auc, similarity_is_judgeable

        preferences = self.prepared.preferences
        if not similarity_is_judgeable(self.prepared.method, preferences):
            return None
        return similarity_auc(self.trainer.data_collator, self.trained_pairs, preferences)

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
            "similarity": similarity_record(prepared.method, self.scorer_used, self._similarity_auc()),
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
        verdict_flip=prepared.method.verdict_flip,
    )


def build_trainer(prepared: PreparedRun, model, processor, dataset, scorer, log=print):
    """The PreferenceTrainer of a run; with the reference cache on, its dataset carries the
    reference log-probs (``trainer.reference_pass`` says where they came from)."""
    from aspo_repro.training.callbacks import run_callbacks
    from aspo_repro.training.collator import UnitCollator
    from aspo_repro.training.dpo_config import build_dpo_config
    from aspo_repro.training.lora import lora_config
    from aspo_repro.training.reference_source import (
        attach_reference,
        reference_cache_dir,
        reference_identity,
    )
    from aspo_repro.training.similarity import similarity_scorer
    from aspo_repro.training.trainer import PreferenceTrainer

    method, settings, directory = prepared.method, prepared.settings, prepared.directory
    config = settings.config
    cached = similarity_scorer(method, config, prepared.preferences, scorer, prepared.scorer_checkpoint)
    packed = shares_prompt(prepared, model)
    cache_identity = (
        reference_identity(model, dataset, config, prepared.data_fingerprint, packed)
        if config.cache_reference_logps
        else None
    )
    collator = UnitCollator(
        processor=processor,
        max_length=config.max_length,
        granularity=method.unit.name if method.uses_units else None,
        needs_similarity=method.uses_similarity,
        scorer=cached,
        use_data_similarity=(config.similarity_source == "data" and not method.recomputes_similarity)
        or method.uses_judge,
        pack_pairs=packed,
    )
    trainer = PreferenceTrainer(
        model=model,
        args=build_dpo_config(settings, method, directory.checkpoints),
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora_config(settings, model),
        callbacks=run_callbacks(directory.tensorboard if config.tensorboard else None),
        method=method,
        fused_log_probs=config.fused_log_probs,
    )
    trainer.reference_pass = attach_reference(
        trainer,
        cache_identity,
        prepared.choice.family,
        lambda: reference_cache_dir(config, prepared.preferences.directory, directory.checkpoints),
        log,
    )
    return trainer, cached


def shares_prompt(prepared: PreparedRun, model) -> bool:
    """Whether a batch is packed one sequence per pair: where it is exact and the model takes it."""
    implementation = model.config.get_text_config()._attn_implementation
    return (
        prepared.settings.config.shared_prompt
        and prepared.choice.family_spec.packs_pairs
        and prepared.settings.lora_dropout == 0
        and implementation in ("sdpa", "eager")
    )


def step_metrics(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-step training logs (the Trainer's final summary left out)."""
    return [entry for entry in log_history if "loss" in entry and "step" in entry]
