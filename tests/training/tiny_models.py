"""Tiny random-weight LLaVA and InstructBLIP models saved like real checkpoints (for tests only).

A word-level fast tokenizer (``tokenizers``: WordLevel + whitespace/punctuation pre-tokenizer) with a
chat template, the matching processor, and a model built from a transformers config, all written
with ``save_pretrained`` so that ``from_pretrained(dir)`` works offline, as TRL's own tests do.
"""

from __future__ import annotations

from pathlib import Path

import torch

from aspo_repro.models.builders import word_level_tokenizer

WORDS = (
    "a an the is are there one two three red green blue yellow circle square triangle star left right "
    "top bottom middle of in on and image picture describe what colour color shape how many objects "
    "object it this see i can small large big next to above below . , ? ! : ; yes no user assistant"
).split()
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
IMAGE_SIZE = 16


def build_tokenizer(image_token_attribute: bool = True):
    return word_level_tokenizer(SPECIALS + WORDS, image_token_attribute)


def _llama_config(vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=False,
    )


def save_tiny_llava(directory: str | Path, seed: int = 0) -> Path:
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    directory = Path(directory)
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=8,
        projection_dim=16,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=_llama_config(len(tokenizer), ids("<pad>"), ids("<s>"), ids("</s>")),
        image_token_index=ids("<image>"),
        image_seq_length=4,
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE,
        num_additional_image_tokens=1,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_tiny_instructblip(directory: str | Path, seed: int = 0) -> Path:
    from transformers import (
        BlipImageProcessor,
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
        InstructBlipQFormerConfig,
        InstructBlipVisionConfig,
    )

    directory = Path(directory)
    # InstructBlipProcessor adds its own AddedToken for "<image>" (it expects no str attribute).
    tokenizer = build_tokenizer(image_token_attribute=False)
    ids = tokenizer.convert_tokens_to_ids
    vision = InstructBlipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=8,
    )
    qformer = InstructBlipQFormerConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        encoder_hidden_size=16,
        pad_token_id=ids("<pad>"),
    )
    config = InstructBlipConfig(
        vision_config=vision,
        qformer_config=qformer,
        text_config=_llama_config(len(tokenizer), ids("<pad>"), ids("<s>"), ids("</s>")),
        num_query_tokens=4,
        image_token_index=ids("<image>"),
    )
    torch.manual_seed(seed)
    model = InstructBlipForConditionalGeneration(config).eval()
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = InstructBlipProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        qformer_tokenizer=build_tokenizer(image_token_attribute=False),
        num_query_tokens=4,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
