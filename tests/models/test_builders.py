"""Toy LLaVA / InstructBLIP from transformers configs: processors, save/load, generation, ViT import."""

import open_clip
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from aspo_repro.miniworld import config as world_config
from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.clip_train import open_clip_config
from aspo_repro.miniworld.config import LLAVA_S, ClipConfig
from aspo_repro.miniworld.tokenizer import build_tokenizer
from aspo_repro.models.architectures import TINY_INSTRUCTBLIP, TINY_LLAVA, ImageSpec
from aspo_repro.models.builders import build_model_and_processor, build_random_checkpoint
from aspo_repro.models.families import INSTRUCTBLIP, LLAVA
from aspo_repro.models.prompting import chat_prompt, generate_answers, strip_image_placeholder
from aspo_repro.models.vision_init import (
    instructblip_vision_state,
    llava_vision_state,
    load_vision_tower,
)

IMAGE = Image.new("RGB", (48, 48), lexicon.BACKGROUND_RGB)


def test_llava_processor_expands_one_image_token_per_patch():
    model, processor = build_model_and_processor("llava", TINY_LLAVA)
    prompt = chat_prompt(processor, "Is there a circle in the image?")
    assert prompt == "USER: <image>\nIs there a circle in the image? ASSISTANT:"
    inputs = processor(images=[IMAGE], text=[prompt], return_tensors="pt")
    image_id = model.config.image_token_id
    assert int((inputs["input_ids"] == image_id).sum()) == ImageSpec().num_patches == 9
    assert inputs["pixel_values"].shape == (1, 3, 48, 48)
    assert float(inputs["pixel_values"].abs().max()) < 1e-5  # the background normalises to zero
    assert model(**inputs).logits.shape[-1] == len(processor.tokenizer)


def test_instructblip_processor_prepends_query_tokens_and_feeds_the_qformer():
    model, processor = build_model_and_processor("instructblip", TINY_INSTRUCTBLIP)
    prompt = chat_prompt(processor, "Is there a circle in the image?")
    assert prompt == "USER: Is there a circle in the image? ASSISTANT:"
    inputs = processor(images=[IMAGE], text=[prompt], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    queries = TINY_INSTRUCTBLIP.num_query_tokens
    assert ids[:queries] == [model.config.image_token_index] * queries
    assert ids[queries] == processor.tokenizer.bos_token_id
    assert "qformer_input_ids" in inputs and inputs["qformer_input_ids"].shape[1] == len(ids) - queries


@pytest.mark.parametrize("family", ["llava", "instructblip"])
def test_random_checkpoints_load_through_auto_classes_and_generate(family, tmp_path):
    path = build_random_checkpoint(family, tmp_path / family)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    assert model.config.model_type == family
    answers = generate_answers(model, processor, [IMAGE] * 3, ["Describe the image in detail.", "Yes", "Is there a star?"],
                               max_new_tokens=5, batch_size=2)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert model.generation_config.eos_token_id == processor.tokenizer.eos_token_id


def test_models_start_from_their_seed():
    first, _ = build_model_and_processor("llava", TINY_LLAVA, seed=3)
    second, _ = build_model_and_processor("llava", TINY_LLAVA, seed=3)
    third, _ = build_model_and_processor("llava", TINY_LLAVA, seed=4)
    state, other = first.state_dict(), second.state_dict()
    assert all(torch.equal(state[k], other[k]) for k in state)
    assert not all(torch.equal(state[k], third.state_dict()[k]) for k in state)


def _clip(tmp_path, no_ln_pre):
    directory = tmp_path / ("eva" if no_ln_pre else "clip")
    directory.mkdir()
    config = ClipConfig(no_ln_pre=no_ln_pre)
    import json
    (directory / "open_clip_config.json").write_text(json.dumps(open_clip_config(config, ImageSpec(), build_tokenizer())))
    torch.manual_seed(0)
    return open_clip.create_model(f"local-dir:{directory}")


def test_the_clip_vit_becomes_llavas_vision_tower_exactly(tmp_path):
    clip = _clip(tmp_path, no_ln_pre=False).eval()
    model, _ = build_model_and_processor("llava", LLAVA_S)
    load_vision_tower(model, LLAVA, clip.visual.state_dict())
    tower = model.model.vision_tower.eval()
    pixels = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = clip.visual(pixels)
        converted = tower(pixels).pooler_output @ clip.visual.proj
    assert torch.allclose(expected, converted, atol=3e-4)  # float32 rounding of two attention codes
    assert not any(p.requires_grad for p in tower.parameters())
    assert len(llava_vision_state(clip.visual.state_dict())) == len(tower.state_dict())


def test_the_eva_clip_vit_becomes_instructblips_vision_model_exactly(tmp_path):
    clip = _clip(tmp_path, no_ln_pre=True).eval()
    model, _ = build_model_and_processor("instructblip", world_config.INSTRUCTBLIP)
    load_vision_tower(model, INSTRUCTBLIP, clip.visual.state_dict())
    pixels = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = clip.visual(pixels)
        converted = model.vision_model(pixels).pooler_output @ clip.visual.proj
    assert torch.allclose(expected, converted, atol=3e-4)  # float32 rounding of two attention codes
    with pytest.raises(ValueError, match="no_ln_pre"):
        instructblip_vision_state(_clip(tmp_path, no_ln_pre=False).visual.state_dict())


def test_strip_image_placeholder():
    assert strip_image_placeholder("<image>\nDescribe the image in detail.") == "Describe the image in detail."
    assert strip_image_placeholder("Describe it.\n<image>") == "Describe it."
