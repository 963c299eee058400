"""Toy LLaVA and InstructBLIP models with random weights, saved as hub-like checkpoints.

Given a family's name, :func:`build_model_and_processor` returns an untrained model of its toy
architecture (``models/architectures.py``) over the world tokenizer and its processor;
:func:`save_checkpoint` writes both with ``save_pretrained`` so ``AutoModelForImageTextToText`` /
``AutoProcessor`` load the directory like a hub checkpoint. The mini world's SFT trains these; other
tests can use :func:`build_random_checkpoint` for "a random-weight model built from configs".
"""

from __future__ import annotations

from pathlib import Path

from aspo_repro.models.architectures import IMAGE_TOKEN, MAX_NEW_TOKENS, ImageSpec
from aspo_repro.models.families import get_family


def word_level_tokenizer(words: list[str], image_token_attribute: bool = True):
    """A lower-casing, whitespace-split fast tokenizer over ``words`` (ids in list order; the list
    holds ``<pad> <unk> <s> </s> <image>``), for random-weight test and benchmark models.

    ``image_token_attribute`` sets the ``image_token`` LlavaProcessor reads; InstructBlipProcessor
    registers ``<image>`` itself and needs it left out.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        **({"extra_special_tokens": {"image_token": IMAGE_TOKEN}} if image_token_attribute else {}),
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return tokenizer


def _generation_defaults(model, tokenizer) -> None:
    config = model.generation_config
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.max_new_tokens = MAX_NEW_TOKENS
    config.do_sample = False


def build_model_and_processor(family: str, size=None, *, image: ImageSpec = ImageSpec(), seed: int = 0):
    """An untrained model of ``family`` (``llava`` or ``instructblip``) and its processor,
    both over the world tokenizer. ``size`` is a :class:`LlavaSize` / :class:`InstructBlipSize`."""
    import torch

    from aspo_repro.miniworld.tokenizer import build_tokenizer

    family_spec = get_family(family)  # an unknown name is refused before anything is built
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(with_image_in_template=family_spec.image_in_prompt)
    model, processor = family_spec.build_untrained(tokenizer, size, image)
    _generation_defaults(model, tokenizer)
    return model, processor


def save_checkpoint(model, processor, out_dir: str | Path) -> Path:
    """``save_pretrained`` of model (safetensors) and processor into ``out_dir``."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_random_checkpoint(family: str, out_dir: str | Path, size=None, seed: int = 0) -> Path:
    """Save an untrained toy model + processor (TINY sizes by default) and return its directory."""
    model, processor = build_model_and_processor(family, size or get_family(family).tiny_size, seed=seed)
    return save_checkpoint(model, processor, out_dir)
