"""The ASPO loss (Eq. 12-13) at sentence, token or response granularity.

Margin: ``M* = c * sum_i (1 + w_i) r_i - beta * sum_t l_t(y_l)`` with sentence rewards
``r_i = beta * sum_{t in T_i} l_t`` of the chosen response and ``c`` a normaliser that carries
no gradient (see ``docs/aspo-math.md``: with a differentiable c, ASPO is DPO).

The chosen term is computed per token, ``sum_t s_t * beta * l_t`` with the detached scale
``s_t = c * (1 + w_{unit(t)})``: the same value as the sum over units, and exactly DPO's
arithmetic (bit for bit, value and gradient) whenever every ``s_t`` is 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aspo_repro.aspo_choices import NORMALISERS, PERPLEXITY_SOURCES
from aspo_repro.errors import unknown_name
from aspo_repro.losses.common import LossOutput, ResponseLogps, check_pairs, sigmoid_loss
from aspo_repro.methods import AspoOptions
from aspo_repro.weights import adaptive_weights, unit_statistics

ASPO_S_P = AspoOptions()  # ASPO-S+P at sentence level, the paper's method


@torch.no_grad()
def normaliser(
    norm: str,
    rewards: Tensor,
    weighted_rewards: Tensor,
    scale: Tensor,
    unit_mask: Tensor,
    clamp_c: bool = True,
) -> Tensor:
    """The normaliser c of Eq. 12 that ``norm`` names (``aspo_choices.NORMALISERS``), per row of
    (B, K) unit rewards, weighted rewards ``(1 + w) r`` and scales ``1 + w``; no gradient."""
    if norm not in NORMALISERS:
        raise unknown_name("norm", norm, NORMALISERS)
    return NORMALISERS[norm](rewards, weighted_rewards, scale, unit_mask, clamp_c)


def aspo_loss(
    chosen: ResponseLogps,
    rejected: ResponseLogps,
    chosen_units: Tensor,
    options: AspoOptions = ASPO_S_P,
    *,
    beta: float = 0.1,
    similarity: Tensor | None = None,
    ppl_logps: Tensor | None = None,
    num_units: int | None = None,
) -> LossOutput:
    """ASPO's loss for a batch of pairs, with ``options`` (alpha, granularity, norm, ...).

    chosen_units: (B, T) long, the unit of each chosen completion token, -1 elsewhere (ignored
        when each response is one unit).
    similarity: CLIP similarity of each unit to its image, (B, K) for sentence and token units,
        (B,) for response units; needed when alpha > 0.
    ppl_logps: (B, T) log-probs the perplexity weight is computed from; by default those
        ``options.ppl_source`` names (the detached policy's, or the reference's).
    """
    check_pairs(chosen, rejected)
    if options.unit.within_response and tuple(chosen_units.shape) != tuple(chosen.mask.shape):
        raise ValueError(f"chosen_units has shape {tuple(chosen_units.shape)}; one per chosen token is "
                         f"{tuple(chosen.mask.shape)}")
    token_terms = chosen.scaled_log_ratios(beta)
    rejected_rewards = rejected.scaled_log_ratios(beta).sum(-1)
    if ppl_logps is None:
        ppl_logps = PERPLEXITY_SOURCES[options.ppl_source](chosen)
    if tuple(ppl_logps.shape) != tuple(chosen.policy.shape):
        raise ValueError(f"ppl_logps has shape {tuple(ppl_logps.shape)}; one per chosen token is "
                         f"{tuple(chosen.policy.shape)}")
    if options.unit.within_response:
        token_scale, weights, unit_mask, c = _unit_scales(
            token_terms, chosen_units, options, similarity, ppl_logps, num_units
        )
    else:
        scale, weights, unit_mask, c = _response_scales(
            token_terms, chosen.mask, options, similarity, ppl_logps
        )
        token_scale = scale.unsqueeze(-1)
    chosen_term = (token_terms * token_scale).sum(-1)
    margins = chosen_term - rejected_rewards
    losses = sigmoid_loss(margins)
    return LossOutput(
        loss=losses.mean(),
        losses=losses.detach(),
        margins=margins.detach(),
        chosen_rewards=token_terms.detach().sum(-1),
        rejected_rewards=rejected_rewards.detach(),
        weights=weights,
        unit_mask=unit_mask,
        c=c,
    )


@torch.no_grad()
def _unit_scales(
    token_terms: Tensor,
    units: Tensor,
    options: AspoOptions,
    similarity: Tensor | None,
    ppl_logps: Tensor,
    num_units: int | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-token scales c * (1 + w_unit) for sentence or token units, (B, T)."""
    if num_units is None:
        num_units = similarity.shape[-1] if similarity is not None else int(units.max().item()) + 1
    num_units = max(1, num_units)
    if similarity is not None and tuple(similarity.shape) != (units.shape[0], num_units):
        raise ValueError(  # a wrong width would broadcast silently, weighting units by others' scores
            f"similarity has shape {tuple(similarity.shape)}; one per unit is ({units.shape[0]}, {num_units})"
        )
    unit_rewards, mean_nll, counts = unit_statistics(
        token_terms, ppl_logps if options.uses_perplexity else None, units, num_units
    )
    unit_mask = counts > 0
    weights = adaptive_weights(options.alpha, unit_mask, similarity=similarity, mean_nll=mean_nll)
    scale = 1 + weights
    c = normaliser(options.norm, unit_rewards, scale * unit_rewards, scale, unit_mask, options.clamp_c)
    token_scale = (c.unsqueeze(-1) * scale).gather(1, units.clamp(min=0))
    return token_scale, weights, unit_mask, c


@torch.no_grad()
def _response_scales(
    token_terms: Tensor,
    mask: Tensor,
    options: AspoOptions,
    similarity: Tensor | None,
    ppl_logps: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-response scales for the response-level ablation: units are the micro-batch's responses.

    Weights are min-max normalised across the micro-batch and c is shared by it (per response,
    c would cancel the weight and give DPO back).
    """
    rewards = token_terms.detach().sum(-1).unsqueeze(0)  # (1, B)
    unit_mask = mask.any(-1).unsqueeze(0)
    mean_nll = None
    if options.uses_perplexity:
        nll = torch.where(mask, -ppl_logps.detach().float(), torch.zeros_like(token_terms)).sum(-1)
        mean_nll = (nll / mask.sum(-1).clamp(min=1)).unsqueeze(0)
    if similarity is not None and similarity.numel() != mask.shape[0]:
        raise ValueError(f"similarity has shape {tuple(similarity.shape)}; one per response is ({mask.shape[0]},)")
    sims = similarity.float().reshape(1, -1) if similarity is not None else None
    weights = adaptive_weights(options.alpha, unit_mask, similarity=sims, mean_nll=mean_nll)
    scale = 1 + weights
    c = normaliser(options.norm, rewards, scale * rewards, scale, unit_mask, options.clamp_c)  # (1,)
    return (c * scale).squeeze(0), weights.squeeze(0).unsqueeze(-1), unit_mask.squeeze(0).unsqueeze(-1), c.expand(rewards.shape[1])
