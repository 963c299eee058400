"""ASPO's adaptive unit weights (paper section 3.2.1), as pure functions of tensors.

Every function takes per-unit values of shape ``(B, K)`` and a boolean ``unit_mask`` of the
same shape (False for padding units and for units without tokens), and is computed without
gradient: the weights only rescale the rewards they multiply.
"""

from __future__ import annotations

import torch
from torch import Tensor


def unit_totals(per_token: Tensor, unit_ids: Tensor, num_units: int) -> Tensor:
    """Sum each of N rows of per-token values (B, N, T) into units (B, N, K) with one scatter.

    ``unit_ids`` (B, T) is -1 off the completion; those tokens count nowhere.
    """
    on_completion = (unit_ids >= 0).unsqueeze(1)
    index = unit_ids.clamp(min=0).unsqueeze(1).expand_as(per_token)
    masked = torch.where(on_completion, per_token, 0.0)
    return per_token.new_zeros(*per_token.shape[:2], num_units).scatter_add_(2, index, masked)


@torch.no_grad()
def unit_statistics(token_rewards: Tensor, token_logps: Tensor | None, unit_ids: Tensor, num_units: int):
    """Each unit's summed reward, mean negative log-likelihood log PPL_i (Eq. 9; None without
    ``token_logps``) and token count, each (B, K).

    One scatter for all three: at this size the loss step's cost is the number of kernels.
    """
    rows = [token_rewards.detach().float(), torch.ones_like(token_rewards, dtype=torch.float32)]
    if token_logps is not None:
        rows.append(token_logps.detach().float())
    totals = unit_totals(torch.stack(rows, 1), unit_ids, num_units)
    rewards, counts = totals[:, 0], totals[:, 1]
    mean_nll = -totals[:, 2] / counts.clamp(min=1) if token_logps is not None else None
    return rewards, mean_nll, counts


@torch.no_grad()
def minmax_normalise(values: Tensor, unit_mask: Tensor) -> Tensor:
    """``(v - min v) / (max v - min v)`` over each row's units (Eq. 7); 0 where max = min."""
    values = values.float()
    lowest = torch.where(unit_mask, values, float("inf")).amin(dim=-1, keepdim=True)
    highest = torch.where(unit_mask, values, float("-inf")).amax(dim=-1, keepdim=True)
    spread = highest - lowest
    usable = unit_mask & (spread > 0) & (spread < float("inf"))
    return torch.where(usable, (values - lowest) / spread, 0.0)


@torch.no_grad()
def similarity_weights(similarity: Tensor, unit_mask: Tensor) -> Tensor:
    """Normalised image-text similarity S^ (Eq. 6-7)."""
    return minmax_normalise(similarity, unit_mask)


@torch.no_grad()
def perplexity_weights(mean_nll: Tensor, unit_mask: Tensor) -> Tensor:
    """Negated, min-max normalised perplexity P^_i = (max PPL - PPL_i) / (max PPL - min PPL).

    With PPL = exp(nll), dividing through by max PPL gives the same value without overflow:
    expm1(nll_i - nll_max) / expm1(nll_min - nll_max).
    """
    nll = mean_nll.float()
    highest = torch.where(unit_mask, nll, float("-inf")).amax(dim=-1, keepdim=True)
    lowest = torch.where(unit_mask, nll, float("inf")).amin(dim=-1, keepdim=True)
    denominator = torch.expm1(lowest - highest)
    usable = unit_mask & (denominator < 0)
    return torch.where(usable, torch.expm1(nll - highest) / denominator, 0.0)


@torch.no_grad()
def adaptive_weights(
    alpha: float,
    unit_mask: Tensor,
    similarity: Tensor | None = None,
    mean_nll: Tensor | None = None,
) -> Tensor:
    """Final weight w_i = alpha * S^_i + (1 - alpha) * P^_i (Eq. 10); a term with weight 0 may be None."""
    if alpha > 0 and similarity is None:
        raise ValueError("alpha > 0 needs the units' image-text similarities")
    if alpha < 1 and mean_nll is None:
        raise ValueError("alpha < 1 needs the units' log-probabilities for perplexity")
    if alpha == 1:
        return similarity_weights(similarity, unit_mask)
    if alpha == 0:
        return perplexity_weights(mean_nll, unit_mask)
    # lerp(P, S, alpha) = alpha * S + (1 - alpha) * P, in one kernel
    return torch.lerp(perplexity_weights(mean_nll, unit_mask), similarity_weights(similarity, unit_mask), alpha)
