"""Building trainers the way ``aspo_repro.training.run`` does, for tests that step them directly."""

from __future__ import annotations

import torch

from aspo_repro.training import TrainConfig, build_dpo_config, prepare_run
from aspo_repro.training.collator import TRL_COLUMNS
from aspo_repro.training.lora import lora_config
from aspo_repro.training.model_source import load_model_and_processor
from aspo_repro.training.run import build_trainer, formatted_dataset

FAST = dict(
    global_batch_size=2,
    learning_rate=1e-3,
    save_steps=1000,
    max_length=512,
    lora_r=8,
    lora_alpha=16,
)


def make_trainer(model_dir, prefs_dir, method, out, *, stock=False, scorer=None, **config):
    """Our PreferenceTrainer (or, with ``stock``, TRL's own DPOTrainer) on the same model, data, seed."""
    from trl import DPOTrainer

    prepared = prepare_run(
        method, str(model_dir), prefs_dir, out, TrainConfig(**{**FAST, **config})
    )
    model, processor = load_model_and_processor(prepared.choice)
    dataset = formatted_dataset(prepared, processor)
    if not stock:
        return build_trainer(prepared, model, processor, dataset, scorer)[0]
    return DPOTrainer(
        model=model,
        args=build_dpo_config(prepared.settings, prepared.method, out),
        train_dataset=dataset.select_columns(list(TRL_COLUMNS)),
        processing_class=processor,
        peft_config=lora_config(prepared.settings, model),
    )


def trainable(trainer) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone() for name, p in trainer.model.named_parameters() if p.requires_grad
    }


def step_logs(trainer) -> list[dict]:
    return [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
