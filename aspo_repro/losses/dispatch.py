"""One entry point for the trainer: the loss a registered method names.

Each loss kind of ``aspo_repro.methods.LOSS_KINDS`` maps to one function here; a method's options
reach its loss as the method holds them (ASPO's as one ``AspoOptions``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from aspo_repro.losses.aspo import aspo_loss
from aspo_repro.losses.common import LossOutput, ResponseLogps
from aspo_repro.losses.dpo import dpo_loss
from aspo_repro.methods import Method


def _dpo(method: Method, chosen: ResponseLogps, rejected: ResponseLogps, **_unused) -> LossOutput:
    return dpo_loss(chosen, rejected, beta=method.beta)


def _aspo(
    method: Method,
    chosen: ResponseLogps,
    rejected: ResponseLogps,
    *,
    chosen_units: Tensor | None,
    similarity: Tensor | None,
    num_units: int | None,
) -> LossOutput:
    if chosen_units is None and method.units_within_response:
        raise ValueError(f"method {method.name!r} needs the unit of every chosen token")
    return aspo_loss(
        chosen,
        rejected,
        chosen_units if chosen_units is not None else chosen.mask.long() - 1,
        method.aspo_options,
        beta=method.beta,
        similarity=similarity,
        num_units=num_units,
    )


LOSS_FUNCTIONS: dict[str, Callable[..., LossOutput]] = {"dpo": _dpo, "aspo": _aspo}


def preference_loss(
    method: Method,
    chosen: ResponseLogps,
    rejected: ResponseLogps,
    chosen_units: Tensor | None = None,
    similarity: Tensor | None = None,
    num_units: int | None = None,
) -> LossOutput:
    """The loss of ``method`` on one batch."""
    return LOSS_FUNCTIONS[method.loss](
        method,
        chosen,
        rejected,
        chosen_units=chosen_units,
        similarity=similarity,
        num_units=num_units,
    )
