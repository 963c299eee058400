"""Preference losses as pure functions of per-token log-probabilities (a loss per file).

``preference_loss(method, ...)`` dispatches on a registered :class:`~aspo_repro.methods.Method`;
``dpo_loss`` and ``aspo_loss`` can be called directly.
"""

from aspo_repro.losses.aspo import aspo_loss, normaliser
from aspo_repro.losses.common import LossOutput, ResponseLogps
from aspo_repro.losses.dispatch import preference_loss
from aspo_repro.losses.dpo import dpo_loss

__all__ = ["LossOutput", "ResponseLogps", "aspo_loss", "dpo_loss", "normaliser", "preference_loss"]
