"""TRL's ``DPOConfig`` for a run: the Trainer's side of the resolved settings."""

from __future__ import annotations

from pathlib import Path

from aspo_repro.methods import Method
from aspo_repro.training.config import ResolvedSettings
from aspo_repro.training.processes import trains_on_cpu_only


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
