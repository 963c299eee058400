"""Toy LLaVA and InstructBLIP models built from transformers configs, with random weights.

The architectures are the paper's (``LlavaForConditionalGeneration``: CLIP vision tower + MLP
projector + Llama; ``InstructBlipForConditionalGeneration``: ViT + Q-Former + Llama) at toy
sizes. Given the world tokenizer (``aspo_repro.miniworld.tokenizer``), :func:`build_model_and_processor`
returns an untrained model and its processor; :func:`save_checkpoint` writes both with
``save_pretrained`` so ``AutoModelForImageTextToText`` / ``AutoProcessor`` load the directory
like a hub checkpoint. The mini world's SFT trains these; other tests can use
:func:`build_random_checkpoint` for "a random-weight model built from configs".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aspo_repro.miniworld.lexicon import BACKGROUND_RGB
from aspo_repro.models.families import INSTRUCTBLIP, LLAVA, get_family

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
TINY_SIZES = {LLAVA.name: TINY_LLAVA, INSTRUCTBLIP.name: TINY_INSTRUCTBLIP}


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
    model, processor = _ARCHITECTURES[family_spec.name](tokenizer, size, image)
    _generation_defaults(model, tokenizer)
    return model, processor


def _llava(tokenizer, size: LlavaSize | None, image: ImageSpec):
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration(llava_config(tokenizer, size or LlavaSize(), image))
    return model, llava_processor(tokenizer, image)


def _instructblip(tokenizer, size: InstructBlipSize | None, image: ImageSpec):
    from transformers import InstructBlipForConditionalGeneration

    from aspo_repro.miniworld.tokenizer import build_tokenizer

    size = size or InstructBlipSize()
    model = InstructBlipForConditionalGeneration(instructblip_config(tokenizer, size, image))
    qformer_tokenizer = build_tokenizer(with_image_in_template=False)
    return model, instructblip_processor(tokenizer, qformer_tokenizer, size.num_query_tokens, image)


_ARCHITECTURES = {LLAVA.name: _llava, INSTRUCTBLIP.name: _instructblip}


def save_checkpoint(model, processor, out_dir: str | Path) -> Path:
    """``save_pretrained`` of model (safetensors) and processor into ``out_dir``."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_random_checkpoint(family: str, out_dir: str | Path, size=None, seed: int = 0) -> Path:
    """Save an untrained toy model + processor (TINY sizes by default) and return its directory."""
    model, processor = build_model_and_processor(family, size or TINY_SIZES[get_family(family).name], seed=seed)
    return save_checkpoint(model, processor, out_dir)
