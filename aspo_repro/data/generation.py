"""Chosen and rejected answers: the model answers each instruction with greedy decoding, once
with the clean image and once with the diffusion-noised one (the SeVa pipeline, paper section 4.1).

Both answers of a batch come from one ``generate`` call over the clean and the noised copies of
the batch, with left padding. The noise is added to the processor's normalised pixel tensor
(``noise.add_diffusion_noise``), so the rejected image is the clean one seen through noise, not
a re-encoded picture. Prompts come from ``models.prompting.chat_prompt``, as in training and
evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from aspo_repro.data.noise import add_diffusion_noise
from aspo_repro.models.prompting import chat_prompt

DEFAULT_MAX_NEW_TOKENS = 512


@dataclass(frozen=True)
class AnswerPair:
    chosen: str
    rejected: str


def prepare_for_generation(model, processor) -> None:
    """Left padding (decoder-only generation) and a pad token; the model in eval mode."""
    for name in ("tokenizer", "qformer_tokenizer"):
        tokenizer = getattr(processor, name, None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
    model.eval()


def pads_last(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's padding to its end.

    InstructBlipProcessor pads the Q-Former's text on the language model's side (left, for
    generation); the Q-Former is a BERT encoder with absolute positions, so left padding would
    shift its text and make an answer depend on the other prompts of its batch.
    """
    order = torch.argsort((attention_mask == 0).to(torch.int8), dim=1, stable=True)
    return input_ids.gather(1, order), attention_mask.gather(1, order)


@torch.inference_mode()
def answer_pairs(
    model,
    processor,
    images: Sequence,
    questions: Sequence[str],
    noise_seeds: Sequence[int],
    *,
    noise_step: int,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> list[AnswerPair]:
    """Greedy answers to each question with its clean image (chosen) and its noised image (rejected)."""
    prompts = [chat_prompt(processor, question) for question in questions]
    inputs = processor(images=list(images) * 2, text=prompts * 2, padding=True, return_tensors="pt")
    if "qformer_input_ids" in inputs:
        inputs["qformer_input_ids"], inputs["qformer_attention_mask"] = pads_last(
            inputs["qformer_input_ids"], inputs["qformer_attention_mask"])
    batch = len(prompts)
    pixel_values = inputs["pixel_values"]
    noised = add_diffusion_noise(pixel_values[:batch], noise_step, list(noise_seeds))
    inputs["pixel_values"] = torch.cat([pixel_values[:batch], noised])
    inputs = inputs.to(model.device)
    if "pixel_values" in inputs and model.dtype.is_floating_point:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    output = model.generate(
        **inputs,
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        pad_token_id=processor.tokenizer.pad_token_id,
    )
    texts = processor.tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    texts = [text.strip() for text in texts]
    return [AnswerPair(chosen=texts[i], rejected=texts[batch + i]) for i in range(batch)]
