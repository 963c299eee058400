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

Two batch layouts are scored (:class:`PairBatch`): TRL's 2B rows, or B packed rows that hold each
pair's prompt once (``aspo_repro.training.packing``). When the batch carries cached reference
log-probs (``ref_token_logps``, ``aspo_repro.training.reference_cache``), the reference forward is
skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import selective_log_softmax, use_adapter

from aspo_repro.losses import ResponseLogps, preference_loss
from aspo_repro.methods import Method
from aspo_repro.training.collator import REFERENCE_COLUMNS, UNIT_COLUMNS
from aspo_repro.training.packing import attention_mask as packed_attention_mask

NON_MODEL_KEYS = frozenset(
    {
        "completion_mask",
        "ref_chosen_logps",
        "ref_rejected_logps",
        "chosen_unit_ids",
        "unit_similarity",
        "ref_token_logps",
        "segment_ids",
        "target_ids",
        "chosen_targets",
        "rejected_targets",
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
    return _selected_log_probs(logits, labels[:, 1:])


def target_log_probs(model, model_kwargs: dict, targets: torch.Tensor, fused: bool) -> torch.Tensor:
    """log pi(target | context) at each position, (N, L), with pre-shifted ``targets`` (-100: none)."""
    if fused:
        return model(**model_kwargs, shift_labels=targets, fused_lm_head=True).log_probs
    return _selected_log_probs(model(**model_kwargs).logits, targets)


def _selected_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logps = selective_log_softmax(logits.float(), targets.clamp(min=0))
    return logps.masked_fill(targets == -100, 0.0)


@dataclass
class PairBatch:
    """A collated batch in either layout, as the loss needs it.

    ``sides(per_token)`` splits a per-token tensor of the layout into the chosen and the rejected
    side, each (B, T) and zero off its completion; ``chosen_units`` is aligned with the sides.
    """

    model_kwargs: dict
    labels: torch.Tensor  # TRL's labels (N, L), or the packed layout's pre-shifted targets
    packed: bool
    chosen_mask: torch.Tensor
    rejected_mask: torch.Tensor
    chosen_units: torch.Tensor | None

    @classmethod
    def from_inputs(cls, inputs: dict, mask_dtype: torch.dtype | None) -> PairBatch:
        model_kwargs = {k: v for k, v in inputs.items() if k not in NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        units = inputs.get("chosen_unit_ids")
        if "segment_ids" in inputs:
            model_kwargs["attention_mask"] = packed_attention_mask(
                inputs["segment_ids"], mask_dtype
            )
            return cls(
                model_kwargs,
                inputs["target_ids"],
                True,
                inputs["chosen_targets"],
                inputs["rejected_targets"],
                units,
            )
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        chosen_mask, rejected_mask = completion_mask[:, 1:].bool().chunk(2)
        return cls(
            model_kwargs,
            labels,
            False,
            chosen_mask,
            rejected_mask,
            None if units is None else units[:, 1:],
        )

    def token_log_probs(self, model, fused: bool) -> torch.Tensor:
        if self.packed:
            return target_log_probs(model, self.model_kwargs, self.labels, fused)
        return token_log_probs(model, self.model_kwargs, self.labels, fused)

    def sides(self, per_token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chosen, rejected = (per_token, per_token) if self.packed else per_token.chunk(2)
        return chosen.masked_fill(~self.chosen_mask, 0.0), rejected.masked_fill(
            ~self.rejected_mask, 0.0
        )

    def response_logps(
        self, policy: torch.Tensor, reference: torch.Tensor
    ) -> tuple[ResponseLogps, ResponseLogps]:
        masks = (self.chosen_mask, self.rejected_mask)
        return tuple(
            ResponseLogps(policy=p, reference=r, mask=m)
            for p, r, m in zip(self.sides(policy), self.sides(reference), masks)
        )


def adapter_is_fresh(model) -> bool:
    """Whether the model has LoRA layers and every B matrix is zero (the adapter changes nothing)."""
    b_matrices = [p for name, p in model.named_parameters() if "lora_B" in name]
    return bool(b_matrices) and all(not p.detach().any() for p in b_matrices)


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

    def __init__(self, *args, method: Method, fused_log_probs: bool = True, **kwargs) -> None:
        self.method = method
        super().__init__(*args, **kwargs)
        self._fused = fused_log_probs and supports_fused_head(self.model)
        self._fresh_adapter = adapter_is_fresh(self.model)
        # Where the reference log-probs come from (a reference_cache.ReferencePass); set by run.build_trainer.
        self.reference_pass = None
        if self.args.disable_dropout:
            zero_functional_dropout(self.model)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *UNIT_COLUMNS, *REFERENCE_COLUMNS]

    def pair_batch(self, inputs: dict) -> PairBatch:
        return PairBatch.from_inputs(inputs, self._mask_dtype())

    def _mask_dtype(self) -> torch.dtype | None:
        """A packed attention mask's type: boolean for SDPA, additive in the model's dtype for eager."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        implementation = unwrapped.config.get_text_config()._attn_implementation
        return (
            torch.bool
            if implementation == "sdpa"
            else unwrapped.get_input_embeddings().weight.dtype
        )

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        batch = self.pair_batch(inputs)
        policy = batch.token_log_probs(model, self._fused)
        reference = self._reference(inputs, batch, policy)
        chosen, rejected = batch.response_logps(policy, reference)
        similarity = inputs.get("unit_similarity")
        output = preference_loss(
            self.method,
            chosen,
            rejected,
            chosen_units=batch.chosen_units,
            similarity=similarity,
            num_units=self._num_units(batch.chosen_units, similarity),
        )
        self._log_step(mode, output, chosen, rejected)
        if return_outputs:
            return output.loss, {"policy_logps": policy.detach()}
        return output.loss

    def _reference(self, inputs: dict, batch: PairBatch, policy: torch.Tensor) -> torch.Tensor:
        """Cached reference log-probs when the batch has them, else a reference forward.

        Before the first update a fresh adapter (every LoRA B zero) leaves the policy equal to the
        reference, bit for bit, as the reference forward would find; cached values, computed in
        batches padded otherwise, equal it only to rounding, and ASPO's c, a ratio of sentence
        rewards that are exactly 0 here, would turn that rounding into a different first update.
        """
        cached = inputs.get("ref_token_logps")
        if cached is None:
            return self.reference_log_probs(batch)
        if self._fresh_adapter and self.state.global_step == 0:
            return policy.detach()
        return cached

    def reference_log_probs(self, batch: PairBatch) -> torch.Tensor:
        """The same model with its adapter disabled (or TRL's frozen "ref" adapter), no gradient."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        adapter = "ref" if "ref" in getattr(unwrapped, "peft_config", {}) else None
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            use_adapter(unwrapped, adapter_name=adapter),
        ):
            return batch.token_log_probs(self.model, self._fused)

    def _num_units(self, units: torch.Tensor | None, similarity: torch.Tensor | None) -> int | None:
        if not self.method.units_within_response or units is None:
            return None
        if similarity is not None:
            return similarity.shape[-1]
        return int(units.max().item()) + 1 if units.numel() else 1

    def _log_step(self, mode: str, output, chosen: ResponseLogps, rejected: ResponseLogps) -> None:
        """Per-step scalars, averaged over processes (min and max reduced as such)."""
        stats = dict.fromkeys(WEIGHT_STATS, float("nan")) if self.method.logs_unit_weights else {}
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
