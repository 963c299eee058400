"""The closed-vocabulary fast tokenizer: offsets, decoding, chat template, save/load."""

import random

from transformers import AutoTokenizer

from aspo_repro.miniworld import grammar, questions
from aspo_repro.miniworld.scene import SceneBias, sample_scenes
from aspo_repro.miniworld.tokenizer import build_tokenizer
from aspo_repro.segmentation import tokenize_with_units


def _texts():
    rng = random.Random(0)
    for scene in sample_scenes(0, "sft", 100, SceneBias()):
        yield grammar.describe(scene, rng)
        for qa in (questions.exists_qa(scene, rng, long=True), questions.short_qa(scene, rng), questions.choice_qa(scene, rng)):
            yield qa.prompt
            yield qa.answer


def test_every_world_text_is_in_the_vocabulary_and_decodes_back():
    tokenizer = build_tokenizer()
    assert tokenizer.is_fast
    for text in _texts():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids, text
        if "\n" not in text and ":" not in text:
            assert tokenizer.decode(ids) == text


def test_offsets_give_sentence_units():
    tokenizer = build_tokenizer()
    text = "There are two objects in the image. A red circle is in the top left. The red circle is above the blue square."
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    words = [text[start:end] for start, end in encoded["offset_mapping"]]
    assert words[:8] == ["There", "are", "two", "objects", "in", "the", "image", "."]
    ids, units = tokenize_with_units(tokenizer, text)
    assert units == [0] * 8 + [1] * 9 + [2] * 9


def test_bos_is_prepended_and_chat_templates_differ_by_family():
    llava, instructblip = build_tokenizer(True), build_tokenizer(False)
    assert llava("Yes")["input_ids"][0] == llava.bos_token_id
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image in detail."}]},
        {"role": "assistant", "content": "There is one object in the image."},
    ]
    assert llava.apply_chat_template(conversation, tokenize=False) == (
        "USER: <image>\nDescribe the image in detail. ASSISTANT: There is one object in the image.</s> ")
    assert instructblip.apply_chat_template(conversation[:1], tokenize=False, add_generation_prompt=True) == (
        "USER: Describe the image in detail. ASSISTANT:")
    assert llava.image_token == "<image>" and not hasattr(instructblip, "image_token")


def test_save_and_load_round_trip(tmp_path):
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "USER: <image>\nIs there a star in the image? ASSISTANT: No"
    assert loaded.is_fast and loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.chat_template == tokenizer.chat_template
    assert build_tokenizer().get_vocab() == tokenizer.get_vocab()  # deterministic
