"""TRL's ``DPOTrainer`` with the project's loss core in its loss step.

Pinned to TRL 1.16.0: ``DPOTrainer._compute_loss`` is private and changes between releases. The
override keeps TRL's forward passes (policy, then the reference as the same model with its LoRA
adapter disabled, under ``torch.no_grad``), and replaces what follows: the per-token log-probs of
both, the completion mask and the collator's unit ids go to
:func:`aspo_repro.losses.preference_loss`, whose scalars are logged per step (rewards, margins,
accuracy, unit-weight mean/min/max, c).

Per-token log-probs come from TRL's fused LM head where the model supports it (LLaVA: it reads the
language backbone's hidden states); InstructBLIP's forward does not expose them, so its logits are
used instead.
"""

from __future__ import annotations

import torch
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import selective_log_softmax, use_adapter

from aspo_repro.losses import ResponseLogps, preference_loss
from aspo_repro.methods import Method
from aspo_repro.training.collator import UNIT_COLUMNS

NON_MODEL_KEYS = frozenset(
    {
        "completion_mask",
        "ref_chosen_logps",
        "ref_rejected_logps",
        "chosen_unit_ids",
        "unit_similarity",
    }
)
WEIGHT_STATS = ("weights/mean", "weights/min", "weights/max")


def supports_fused_head(model) -> bool:
    """Whether TRL's fused LM head can score ``model``: its backbone returns ``last_hidden_state``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, base.base_model_prefix, None) is not None


def token_log_probs(model, model_kwargs: dict, labels: torch.Tensor, fused: bool) -> torch.Tensor:
    """log pi(y_t | x, y_<t) of each next-token label, (N, L-1), zero where the label is -100."""
    if fused:
        return model(**model_kwargs, labels=labels, fused_lm_head=True).log_probs[
            :, -(labels.shape[1] - 1) :
        ]
    logits = model(**model_kwargs).logits[:, -labels.shape[1] : -1]
    targets = labels[:, 1:]
    logps = selective_log_softmax(logits.float(), targets.clamp(min=0))
    return logps.masked_fill(targets == -100, 0.0)


def zero_functional_dropout(model) -> None:
    """Set the float dropout rates that attention layers pass to functional dropout to 0.

    TRL's ``disable_dropout`` zeroes ``nn.Dropout`` modules only; InstructBLIP's Q-Former passes
    ``attention_probs_dropout_prob`` (0.1) straight to ``nn.functional.dropout``, which would make
    the policy and reference passes see different masks.
    """
    for module in model.modules():
        for name in ("attention_dropout", "dropout"):
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


class PreferenceTrainer(DPOTrainer):
    """A ``DPOTrainer`` whose loss is a registered method's (``aspo_repro.methods``)."""

    def __init__(self, *args, method: Method, **kwargs) -> None:
        self.method = method
        super().__init__(*args, **kwargs)
        self._fused = supports_fused_head(self.model)
        if self.args.disable_dropout:
            zero_functional_dropout(self.model)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *UNIT_COLUMNS]

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        model_kwargs = {k: v for k, v in inputs.items() if k not in NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        policy = token_log_probs(model, model_kwargs, labels, self._fused)
        reference = self._reference_log_probs(model_kwargs, labels)
        mask = completion_mask[:, 1:].bool()
        chosen, rejected = (
            ResponseLogps(policy=p, reference=r, mask=m)
            for p, r, m in zip(policy.chunk(2), reference.chunk(2), mask.chunk(2))
        )
        units = inputs.get("chosen_unit_ids")
        similarity = inputs.get("unit_similarity")
        output = preference_loss(
            self.method,
            chosen,
            rejected,
            chosen_units=None if units is None else units[:, 1:],
            similarity=similarity,
            num_units=self._num_units(units, similarity),
        )
        self._log_step(mode, output, chosen, rejected)
        if return_outputs:
            return output.loss, {"policy_logps": policy.detach()}
        return output.loss

    def _reference_log_probs(self, model_kwargs: dict, labels: torch.Tensor) -> torch.Tensor:
        """The same model with its adapter disabled (or TRL's frozen "ref" adapter), no gradient."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        adapter = "ref" if "ref" in getattr(unwrapped, "peft_config", {}) else None
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            use_adapter(unwrapped, adapter_name=adapter),
        ):
            return token_log_probs(self.model, model_kwargs, labels, self._fused)

    def _num_units(self, units: torch.Tensor | None, similarity: torch.Tensor | None) -> int | None:
        if self.method.granularity == "response" or units is None:
            return None
        if similarity is not None:
            return similarity.shape[-1]
        return int(units.max().item()) + 1 if units.numel() else 1

    def _log_step(self, mode: str, output, chosen: ResponseLogps, rejected: ResponseLogps) -> None:
        """Per-step scalars, averaged over processes (min and max reduced as such)."""
        stats = dict.fromkeys(WEIGHT_STATS, float("nan")) if self.method.loss == "aspo" else {}
        stats.update(output.metrics())
        stats.pop("loss")  # the Trainer logs the loss itself
        stats["logps/chosen"] = chosen.policy.detach().float().sum(-1).mean().item()
        stats["logps/rejected"] = rejected.policy.detach().float().sum(-1).mean().item()
        names = sorted(stats)
        values = torch.tensor([stats[name] for name in names], device=self.accelerator.device)
        gathered = self.accelerator.gather(values.unsqueeze(0)).reshape(-1, len(names))
        for column, name in enumerate(names):
            self._metrics[mode][name].append(_reduce(name, gathered[:, column]))


def _reduce(name: str, values: torch.Tensor) -> float:
    """One process's value, or the mean (min, max) over processes, ignoring NaN (no units there)."""
    present = values[~torch.isnan(values)]
    if present.numel() == 0:
        return float("nan")
    if name.endswith("/min"):
        return present.min().item()
    if name.endswith("/max"):
        return present.max().item()
    return present.mean().item()
