"""Prompts and batched greedy answers for the image-text models (both profiles, both families).

The instruction data is in LLaVA-Instruct format, where the human turn reads
``"<image>\\n" + question``. :func:`chat_prompt` turns a question into the model's own chat
format through its tokenizer's chat template (LLaVA puts the image placeholder in the text;
InstructBLIP's processor prepends its query tokens itself), and :func:`generate_answers`
answers questions about images in batches.
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

IMAGE_PLACEHOLDER = "<image>"


def strip_image_placeholder(human_value: str) -> str:
    """The question of a LLaVA-format human turn (``<image>\\n`` removed wherever it sits)."""
    return human_value.replace(IMAGE_PLACEHOLDER + "\n", "").replace(IMAGE_PLACEHOLDER, "").strip()


def chat_template(processor) -> str | None:
    """The processor's chat template, else its tokenizer's (None: the model has none)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)


def chat_prompt(processor, question: str) -> str:
    """The generation prompt for one image and ``question``, in the model's chat format."""
    tokenizer = getattr(processor, "tokenizer", processor)
    template = chat_template(processor)
    if template is None:
        # InstructBLIP's hub checkpoints have no chat template: the instruction is the prompt
        # (as lmms-eval's instructblip adapter and the training formatter send it).
        return question
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return tokenizer.apply_chat_template(conversation, chat_template=template, add_generation_prompt=True,
                                         tokenize=False)


def _left_padding(processor) -> None:
    """Generation pads the language model's prompts on the left. (InstructBLIP's Q-Former reads
    its copy of the prompt with absolute positions and an attention mask, as in training: it
    keeps right padding.)"""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"


def generate_answers(model, processor, images: Sequence, questions: Sequence[str], *,
                     max_new_tokens: int | None = None, batch_size: int = 32, progress: bool = False,
                     desc: str = "generate") -> list[str]:
    """Greedy answers to ``questions[i]`` about ``images[i]`` (PIL images), in batches."""
    import torch

    if len(images) != len(questions):
        raise ValueError(f"{len(images)} images but {len(questions)} questions")
    _left_padding(processor)
    answers: list[str] = []
    device = next(model.parameters()).device
    starts = range(0, len(questions), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        prompts = [chat_prompt(processor, q) for q in questions[start:start + batch_size]]
        inputs = processor(images=list(images[start:start + batch_size]), text=prompts,
                           return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            output = model.generate(**inputs, **_greedy(model, processor, max_new_tokens))
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        answers += [text.strip() for text in processor.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers


def _greedy(model, processor, max_new_tokens: int | None) -> dict:
    """Explicit generation settings: InstructBLIP's ``generate`` hands over to its language
    model's own generation config, which knows nothing of the checkpoint's (20 tokens at most)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    limit = max_new_tokens or model.generation_config.max_new_tokens or 96
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": limit,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
