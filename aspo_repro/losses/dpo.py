"""The DPO baseline: L = -log sigmoid(beta * sum l(y_w) - beta * sum l(y_l)) (Eq. 5, 11)."""

from __future__ import annotations

from aspo_repro.losses.common import LossOutput, ResponseLogps, check_pairs, sigmoid_loss


def dpo_loss(chosen: ResponseLogps, rejected: ResponseLogps, beta: float = 0.1) -> LossOutput:
    check_pairs(chosen, rejected)
    chosen_rewards = chosen.scaled_log_ratios(beta).sum(-1)
    rejected_rewards = rejected.scaled_log_ratios(beta).sum(-1)
    margins = chosen_rewards - rejected_rewards
    losses = sigmoid_loss(margins)
    return LossOutput(
        loss=losses.mean(),
        losses=losses.detach(),
        margins=margins.detach(),
        chosen_rewards=chosen_rewards.detach(),
        rejected_rewards=rejected_rewards.detach(),
    )
