"""Inputs and outputs shared by the preference losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ResponseLogps:
    """Per-token log-probabilities of one side (chosen or rejected) of a batch of pairs.

    ``policy`` and ``reference`` are (B, T) log pi(y_t | x, y_<t); ``mask`` is (B, T) and True on
    completion tokens. Any float dtype; the losses compute in float32.
    """

    policy: Tensor
    reference: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        shapes = {name: tuple(getattr(self, name).shape) for name in ("policy", "reference", "mask")}
        if len(set(shapes.values())) != 1 or self.policy.dim() != 2:
            raise ValueError(f"policy, reference and mask must share one (B, T) shape; got {shapes}")
        if self.mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True on completion tokens); got {self.mask.dtype}")

    def scaled_log_ratios(self, beta: float) -> Tensor:
        """beta * l_t with l_t = log pi_theta - log pi_ref, zero off the completion (float32)."""
        ratios = self.policy.float() - self.reference.float()
        return beta * torch.where(self.mask, ratios, torch.zeros_like(ratios))


@dataclass
class LossOutput:
    """A batch-mean loss and the per-pair statistics worth logging (all but ``loss`` detached)."""

    loss: Tensor
    losses: Tensor
    margins: Tensor
    chosen_rewards: Tensor
    rejected_rewards: Tensor
    weights: Tensor | None = None
    unit_mask: Tensor | None = None
    c: Tensor | None = None

    def metrics(self) -> dict[str, float]:
        """Scalars for a training log: rewards, margin, accuracy and weight statistics."""
        stats = {
            "loss": self.loss.item(),
            "rewards/chosen": self.chosen_rewards.mean().item(),
            "rewards/rejected": self.rejected_rewards.mean().item(),
            "rewards/margins": self.margins.mean().item(),
            "rewards/accuracies": (self.margins > 0).float().mean().item(),
        }
        if self.weights is not None and self.unit_mask is not None and self.unit_mask.any():
            used = self.weights[self.unit_mask]
            stats.update({
                "weights/mean": used.mean().item(),
                "weights/min": used.min().item(),
                "weights/max": used.max().item(),
            })
        if self.c is not None:
            stats["c/mean"] = self.c.float().mean().item()
        return stats


def check_pairs(chosen: ResponseLogps, rejected: ResponseLogps) -> None:
    """Chosen and rejected sides of the same pairs (their lengths may differ)."""
    if chosen.policy.shape[0] != rejected.policy.shape[0]:
        raise ValueError(f"chosen has {chosen.policy.shape[0]} responses and rejected {rejected.policy.shape[0]}; "
                         "a pair has one of each")


def sigmoid_loss(margins: Tensor) -> Tensor:
    """-log sigmoid(M) per pair (Eq. 5, 13)."""
    return -torch.nn.functional.logsigmoid(margins)
