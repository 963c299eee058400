"""How far training moved the policy, measured on preference pairs it was not trained on.

``TrainConfig.held_out`` keeps a share of the pairs out of training (chosen by a hash of each
pair's id, so the same pairs whatever the seed or method). After training, on those pairs:

- the **drift** of each side: the mean over tokens of log pi(y_t) - log pi_ref(y_t), per pair. The
  chosen answers are the base model's own greedy answers on clean images, so minus the chosen drift
  estimates KL(pi_ref || pi) per token on the base model's outputs: how far the policy moved away
  from what it said before. 0 means it did not move;
- the implicit reward margin ``beta * (sum drift(chosen) - sum drift(rejected))`` (Eq. 5) and how
  often it is positive (held-out preference accuracy): whether the move is towards the preferences.

Each with a 95% interval over pairs (normal approximation). ``docs/miniworld.md`` states the rule
that picks the mini models' learning rate from these numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from aspo_repro.storage import stable_hash

Z95 = 1.959964


def is_held_out(pair_id: str, share: float) -> bool:
    """Whether a pair is kept out of training: a fixed hash of its id, independent of the run."""
    return share > 0 and int(stable_hash(["held-out", str(pair_id)])[:8], 16) / 16**8 < share


def split_held_out(dataset, share: float):
    """(train, held-out) rows of a formatted dataset; held-out is None when ``share`` is 0."""
    if share <= 0:
        return dataset, None
    flags = [is_held_out(pair_id, share) for pair_id in dataset["id"]]
    held = [i for i, flag in enumerate(flags) if flag]
    kept = [i for i, flag in enumerate(flags) if not flag]
    if not held or not kept:
        return dataset, None
    return in_memory(dataset, kept), in_memory(dataset, held)


def in_memory(dataset, rows: list[int]):
    """Rows of a dataset read from disk, held in memory: a selection left on disk makes datasets write
    its cache files into the preference directory, whose content hash identifies a run's data."""
    return dataset.select(rows, keep_in_memory=True).flatten_indices(keep_in_memory=True)


def summary(values: list[float]) -> dict[str, Any]:
    """Mean and its 95% interval (normal approximation over pairs)."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    half = Z95 * float(array.std(ddof=1)) / math.sqrt(len(array)) if len(array) > 1 else float("nan")
    return {"mean": round(mean, 6), "ci95": [round(mean - half, 6), round(mean + half, 6)]}


@torch.no_grad()
def measure_drift(trainer, dataset, beta: float, batch_size: int = 16) -> dict[str, Any]:
    """The drift of the policy ``trainer`` holds from its reference (its adapter disabled) on ``dataset``."""
    per_pair: dict[str, list[float]] = {"chosen": [], "rejected": [], "chosen_total": [], "margin": []}
    model = trainer.model
    was_training = model.training
    model.eval()
    rows = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(rows), batch_size):
        inputs = trainer.data_collator(rows[start:start + batch_size])
        inputs = {k: v.to(trainer.accelerator.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        batch = trainer.pair_batch(inputs)
        policy = batch.token_log_probs(model, trainer._fused)
        reference = trainer.reference_log_probs(batch)
        chosen, rejected = batch.response_logps(policy, reference)
        sides = {}
        for name, side in (("chosen", chosen), ("rejected", rejected)):
            total = side.scaled_log_ratios(1.0).sum(-1)  # sum of log pi - log pi_ref over the answer
            tokens = side.mask.sum(-1).clamp(min=1).float()
            sides[name] = (total, total / tokens)
        per_pair["chosen"] += sides["chosen"][1].tolist()
        per_pair["rejected"] += sides["rejected"][1].tolist()
        per_pair["chosen_total"] += sides["chosen"][0].tolist()
        per_pair["margin"] += (beta * (sides["chosen"][0] - sides["rejected"][0])).tolist()
    if was_training:
        model.train()
    return {
        "pairs": len(rows),
        "chosen_drift_per_token": summary(per_pair["chosen"]),
        "rejected_drift_per_token": summary(per_pair["rejected"]),
        "chosen_drift_per_answer": summary(per_pair["chosen_total"]),
        "reward_margin": summary(per_pair["margin"]),
        "reward_accuracy": summary([float(m > 0) for m in per_pair["margin"]]),
    }
