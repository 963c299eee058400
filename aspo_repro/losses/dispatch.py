"""One entry point for the trainer: the loss a registered method names."""

from __future__ import annotations

from torch import Tensor

from aspo_repro.losses.aspo import aspo_loss
from aspo_repro.losses.common import LossOutput, ResponseLogps
from aspo_repro.losses.dpo import dpo_loss
from aspo_repro.methods import Method


def preference_loss(
    method: Method,
    chosen: ResponseLogps,
    rejected: ResponseLogps,
    chosen_units: Tensor | None = None,
    similarity: Tensor | None = None,
    ppl_logps: Tensor | None = None,
    num_units: int | None = None,
) -> LossOutput:
    """The loss of ``method`` on one batch; ``ppl_logps`` is used when ppl_source is reference."""
    if method.loss == "dpo":
        return dpo_loss(chosen, rejected, beta=method.beta)
    if chosen_units is None and method.granularity != "response":
        raise ValueError(f"method {method.name!r} needs the unit of every chosen token")
    if method.ppl_source == "reference":
        ppl_logps = chosen.reference if ppl_logps is None else ppl_logps
    elif method.ppl_source == "policy":
        ppl_logps = None
    return aspo_loss(
        chosen,
        rejected,
        chosen_units if chosen_units is not None else chosen.mask.long() - 1,
        beta=method.beta,
        alpha=float(method.alpha),
        granularity=method.granularity,
        norm=method.norm,
        clamp_c=method.clamp_c,
        similarity=similarity,
        ppl_logps=ppl_logps,
        num_units=num_units,
    )
