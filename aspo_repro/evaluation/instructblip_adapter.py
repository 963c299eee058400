"""``instructblip_new_tokens``: lmms-eval's own ``instructblip`` adapter, answering with the model's
continuation only.

lmms-eval 0.7.3's ``instructblip`` decodes everything ``generate`` returns, and transformers 5's
``InstructBlipForConditionalGeneration.generate`` hands ``input_ids`` on to its language model, so
the returned sequences begin with the prompt and every parser and judge reads "prompt + answer"
(docs/upstream/lmms-eval-instructblip.md). This adapter keeps lmms-eval's class, request handling
and decoding, and changes two things: the model's ``generate`` returns the new tokens only, as
``llava_hf`` does by cutting ``cont[:, input_ids.shape[-1]:]``; and the weights load in the
``dtype`` asked, which lmms-eval's class accepts and ignores (it loads the hub snapshot's fp32,
about 57 GB for the 13B, where LAVIS and HA-DPO run InstructBLIP in fp16). It is registered with
lmms-eval's model registry as ``instructblip_new_tokens``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
from lmms_eval.models.simple.instructblip import InstructBLIP

MODEL_ID = "instructblip_new_tokens"


def without_prompt(sequences, input_ids: torch.Tensor | None):
    """``sequences`` without their leading ``input_ids``; unchanged when they do not begin with
    them (a transformers that returns only the new tokens, or no prompt given)."""
    if input_ids is None or not isinstance(sequences, torch.Tensor) or sequences.dim() != 2:
        return sequences
    prompt_length = input_ids.shape[-1]
    if sequences.shape[-1] < prompt_length or sequences.shape[0] % input_ids.shape[0]:
        return sequences
    per_prompt = sequences.shape[0] // input_ids.shape[0]  # num_return_sequences
    prompts = input_ids.to(sequences.device).repeat_interleave(per_prompt, dim=0)
    if torch.equal(sequences[:, :prompt_length], prompts):
        return sequences[:, prompt_length:]
    return sequences


def continuation_only(generate: Callable) -> Callable:
    """``generate`` returning only the tokens after its ``input_ids``."""

    @functools.wraps(generate)
    def generate_continuation(*args, **kwargs):
        return without_prompt(generate(*args, **kwargs), kwargs.get("input_ids"))

    return generate_continuation


class InstructBlipNewTokens(InstructBLIP):
    """lmms-eval's ``instructblip`` with its model's ``generate`` returning the continuation only,
    loaded in ``dtype``."""

    def __init__(self, *args, dtype: str | torch.dtype = "auto", **kwargs) -> None:
        with loading_in(dtype):
            super().__init__(*args, dtype=dtype, **kwargs)
        self.model.generate = continuation_only(self.model.generate)


@contextlib.contextmanager
def loading_in(dtype: str | torch.dtype) -> Iterator[None]:
    """lmms-eval's ``instructblip`` module loading its model with ``dtype`` while the context lasts."""
    from lmms_eval.models.simple import instructblip as upstream

    original = upstream.InstructBlipForConditionalGeneration

    class InDtype:
        from_pretrained = functools.partial(original.from_pretrained, dtype=dtype)

    upstream.InstructBlipForConditionalGeneration = InDtype
    try:
        yield
    finally:
        upstream.InstructBlipForConditionalGeneration = original


def register() -> None:
    """Make ``instructblip_new_tokens`` known to lmms-eval's model registry (idempotent)."""
    from lmms_eval.models import MODEL_REGISTRY_V2
    from lmms_eval.models.registry_v2 import ModelManifest

    MODEL_REGISTRY_V2.register_manifest(
        ModelManifest(model_id=MODEL_ID, simple_class_path=f"{__name__}.InstructBlipNewTokens"), overwrite=True)
