"""Training: every registered method on every registered model, through TRL's DPOTrainer + PEFT.

``train(method, model, prefs, out, config)`` is the entry point (``python -m aspo_repro train``).
Modules: ``config`` (TrainConfig, YAML), ``preferences`` (the data schema and its validation),
``formatting`` (chat template, lengths), ``collator`` (unit ids after TRL's padding),
``trainer`` (the DPOTrainer subclass whose loss step calls ``aspo_repro.losses``), ``lora``,
``model_source``, ``similarity``, ``merge``, ``run`` (one run: prepare, set up, train, clean up) and
``run_directory`` (resumable run directories).
Heavy libraries load on first use, so importing this package stays cheap.
"""

from aspo_repro.training.config import TrainConfig, load_train_config
from aspo_repro.training.dpo_config import build_dpo_config
from aspo_repro.training.preferences import PreferenceSet, read_preferences
from aspo_repro.training.run import RunOutcome, prepare_run, train

__all__ = [
    "PreferenceSet",
    "RunOutcome",
    "TrainConfig",
    "build_dpo_config",
    "load_train_config",
    "prepare_run",
    "read_preferences",
    "train",
]
