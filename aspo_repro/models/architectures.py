"""The toy architectures of the two model families, from transformers configs: sizes, configs,
processors and an untrained model of each.

The architectures are the paper's (``LlavaForConditionalGeneration``: CLIP vision tower + MLP
projector + Llama; ``InstructBlipForConditionalGeneration``: ViT + Q-Former + Llama) at toy sizes,
over the world tokenizer (``aspo_repro.miniworld.tokenizer``). A family's ``build_untrained`` and
``tiny_size`` (``models/families.py``) are its builder and size here;
:func:`aspo_repro.models.builders.build_model_and_processor` is the entry point. This module asks no
family anything (the families name what is here), so it imports no registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from aspo_repro.miniworld.lexicon import BACKGROUND_RGB

IMAGE_SIZE = 48
PATCH_SIZE = 16
# Pixel normalisation centred on the world's background colour, so an empty cell is all zeros
# and objects stand out from the first step. (With OpenAI CLIP's mean, which LLaVA-1.5 uses, the
# uniform background dominates every patch and a model trained from scratch takes many times
# longer to start reading the image.)
IMAGE_MEAN = tuple(round(channel / 255, 6) for channel in BACKGROUND_RGB)
IMAGE_STD = (0.3, 0.3, 0.3)
MAX_NEW_TOKENS = 96
IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class TowerSize:
    hidden: int
    layers: int
    heads: int
    intermediate: int


@dataclass(frozen=True)
class LlavaSize:
    vision: TowerSize = TowerSize(64, 2, 2, 128)
    text: TowerSize = TowerSize(128, 2, 4, 256)


@dataclass(frozen=True)
class InstructBlipSize:
    vision: TowerSize = TowerSize(64, 2, 2, 128)
    qformer: TowerSize = TowerSize(64, 2, 2, 128)
    text: TowerSize = TowerSize(128, 2, 4, 256)
    num_query_tokens: int = 9


@dataclass(frozen=True)
class ImageSpec:
    image_size: int = IMAGE_SIZE
    patch_size: int = PATCH_SIZE

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


# The smallest sizes that still exercise every component (for tests of other stages).
TINY_LLAVA = LlavaSize(TowerSize(32, 1, 2, 64), TowerSize(32, 1, 2, 64))
TINY_INSTRUCTBLIP = InstructBlipSize(TowerSize(32, 1, 2, 64), TowerSize(32, 1, 2, 64), TowerSize(32, 1, 2, 64), 4)


def text_config(tokenizer, size: TowerSize):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.hidden, intermediate_size=size.intermediate,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.heads,
        max_position_embeddings=tokenizer.model_max_length, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def llava_config(tokenizer, size: LlavaSize, image: ImageSpec = ImageSpec()):
    from transformers import CLIPVisionConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=size.vision.hidden, intermediate_size=size.vision.intermediate,
        num_hidden_layers=size.vision.layers, num_attention_heads=size.vision.heads,
        image_size=image.image_size, patch_size=image.patch_size, projection_dim=size.vision.hidden,
        hidden_act="gelu", layer_norm_eps=1e-5,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text_config(tokenizer, size.text),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), image_seq_length=image.num_patches,
        vision_feature_layer=-2, vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )


def instructblip_config(tokenizer, size: InstructBlipSize, image: ImageSpec = ImageSpec()):
    from transformers import InstructBlipConfig, InstructBlipQFormerConfig, InstructBlipVisionConfig

    vision = InstructBlipVisionConfig(
        hidden_size=size.vision.hidden, intermediate_size=size.vision.intermediate,
        num_hidden_layers=size.vision.layers, num_attention_heads=size.vision.heads,
        image_size=image.image_size, patch_size=image.patch_size, initializer_range=0.02,
        hidden_act="gelu", layer_norm_eps=1e-5,
    )
    qformer = InstructBlipQFormerConfig(
        vocab_size=len(tokenizer), hidden_size=size.qformer.hidden, intermediate_size=size.qformer.intermediate,
        num_hidden_layers=size.qformer.layers, num_attention_heads=size.qformer.heads,
        encoder_hidden_size=size.vision.hidden, cross_attention_frequency=1,
        max_position_embeddings=tokenizer.model_max_length, pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return InstructBlipConfig(
        vision_config=vision, qformer_config=qformer, text_config=text_config(tokenizer, size.text),
        num_query_tokens=size.num_query_tokens, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
    )


def llava_processor(tokenizer, image: ImageSpec = ImageSpec()):
    from transformers import CLIPImageProcessor, LlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image.image_size},
        crop_size={"height": image.image_size, "width": image.image_size},
        image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD),
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=image.patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template,
    )


def instructblip_processor(tokenizer, qformer_tokenizer, num_query_tokens: int, image: ImageSpec = ImageSpec()):
    from transformers import BlipImageProcessor, InstructBlipProcessor

    image_processor = BlipImageProcessor(
        size={"height": image.image_size, "width": image.image_size},
        image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD),
    )
    return InstructBlipProcessor(
        image_processor=image_processor, tokenizer=tokenizer, qformer_tokenizer=qformer_tokenizer,
        num_query_tokens=num_query_tokens, chat_template=tokenizer.chat_template,
    )


def build_llava(tokenizer, size: LlavaSize | None, image: ImageSpec):
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration(llava_config(tokenizer, size or LlavaSize(), image))
    return model, llava_processor(tokenizer, image)


def build_instructblip(tokenizer, size: InstructBlipSize | None, image: ImageSpec):
    from transformers import InstructBlipForConditionalGeneration

    from aspo_repro.miniworld.tokenizer import build_tokenizer

    size = size or InstructBlipSize()
    model = InstructBlipForConditionalGeneration(instructblip_config(tokenizer, size, image))
    qformer_tokenizer = build_tokenizer(with_image_in_template=False)
    return model, instructblip_processor(tokenizer, qformer_tokenizer, size.num_query_tokens, image)
