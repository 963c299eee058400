"""ASPO's adaptive unit weights (paper section 3.2.1), as pure functions of tensors.

Every function takes per-unit values of shape ``(B, K)`` and a boolean ``unit_mask`` of the
same shape (False for padding units and for units without tokens), and is computed without
gradient: the weights only rescale the rewards they multiply.
"""

from __future__ import annotations

import torch
from torch import Tensor


def unit_sums(values: Tensor, unit_ids: Tensor, num_units: int) -> Tensor:
    """Sum per-token ``values`` (B, T) into units (B, K); ``unit_ids`` is -1 off the completion."""
    on_completion = unit_ids >= 0
    index = unit_ids.clamp(min=0)
    masked = torch.where(on_completion, values, values.new_zeros(()))
    return values.new_zeros(values.shape[0], num_units).scatter_add(1, index, masked)


def unit_token_counts(unit_ids: Tensor, num_units: int) -> Tensor:
    ones = torch.ones(unit_ids.shape, dtype=torch.float32, device=unit_ids.device)
    return unit_sums(ones, unit_ids, num_units)


@torch.no_grad()
def minmax_normalise(values: Tensor, unit_mask: Tensor) -> Tensor:
    """``(v - min v) / (max v - min v)`` over each row's units (Eq. 7); 0 where max = min."""
    values = values.float()
    lowest = values.masked_fill(~unit_mask, float("inf")).amin(dim=-1, keepdim=True)
    highest = values.masked_fill(~unit_mask, float("-inf")).amax(dim=-1, keepdim=True)
    spread = highest - lowest
    usable = unit_mask & (spread > 0) & torch.isfinite(spread)
    scaled = (values - lowest) / torch.where(usable, spread, torch.ones_like(spread))
    return torch.where(usable, scaled, torch.zeros_like(scaled))


@torch.no_grad()
def similarity_weights(similarity: Tensor, unit_mask: Tensor) -> Tensor:
    """Normalised image-text similarity S^ (Eq. 6-7)."""
    return minmax_normalise(similarity, unit_mask)


@torch.no_grad()
def unit_mean_nll(token_logps: Tensor, unit_ids: Tensor, num_units: int) -> Tensor:
    """Mean negative log-likelihood of each unit's tokens: log PPL_i (Eq. 9)."""
    nll = unit_sums(-token_logps.detach().float(), unit_ids, num_units)
    counts = unit_token_counts(unit_ids, num_units)
    return nll / counts.clamp(min=1)


@torch.no_grad()
def perplexity_weights(mean_nll: Tensor, unit_mask: Tensor) -> Tensor:
    """Negated, min-max normalised perplexity P^_i = (max PPL - PPL_i) / (max PPL - min PPL).

    With PPL = exp(nll), dividing through by max PPL gives the same value without overflow:
    (1 - exp(nll_i - nll_max)) / (1 - exp(nll_min - nll_max)).
    """
    nll = mean_nll.float()
    highest = nll.masked_fill(~unit_mask, float("-inf")).amax(dim=-1, keepdim=True)
    lowest = nll.masked_fill(~unit_mask, float("inf")).amin(dim=-1, keepdim=True)
    shifted = torch.where(unit_mask, nll - highest, torch.zeros_like(nll))
    numerator = -torch.expm1(shifted)
    denominator = -torch.expm1(lowest - highest)
    usable = unit_mask & (denominator > 0) & torch.isfinite(denominator)
    weights = numerator / torch.where(usable, denominator, torch.ones_like(denominator))
    return torch.where(usable, weights, torch.zeros_like(weights))


@torch.no_grad()
def adaptive_weights(
    alpha: float,
    unit_mask: Tensor,
    similarity: Tensor | None = None,
    mean_nll: Tensor | None = None,
) -> Tensor:
    """Final weight w_i = alpha * S^_i + (1 - alpha) * P^_i (Eq. 10); a term with weight 0 may be None."""
    weights = torch.zeros(unit_mask.shape, dtype=torch.float32, device=unit_mask.device)
    if alpha > 0:
        if similarity is None:
            raise ValueError("alpha > 0 needs the units' image-text similarities")
        weights = weights + alpha * similarity_weights(similarity, unit_mask)
    if alpha < 1:
        if mean_nll is None:
            raise ValueError("alpha < 1 needs the units' log-probabilities for perplexity")
        weights = weights + (1 - alpha) * perplexity_weights(mean_nll, unit_mask)
    return weights
