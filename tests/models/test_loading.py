"""load_model_and_processor: registry names (mini and paper), directories, bad input."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.models import (
    all_models,
    get_model_spec,
    load_model_and_processor,
    model_names,
    resolve_source,
)
from aspo_repro.models.builders import build_random_checkpoint
from aspo_repro.models.loading import HubCache
from aspo_repro.tables.specs import load_spec


def test_the_registry_pairs_each_paper_model_with_a_mini_analogue():
    mini = {spec.name: spec for spec in all_models("mini")}
    assert set(mini) == {"mini-llava-s", "mini-llava-m", "mini-instructblip"}
    assert {spec.analogue_of for spec in mini.values()} == {"llava-1.5-7b", "llava-1.5-13b", "instructblip-13b"}
    for spec in mini.values():
        paper = get_model_spec(spec.analogue_of)
        assert spec.family == paper.family
        assert spec.lora.target_modules == paper.lora.target_modules
        assert spec.lora.alpha / spec.lora.r == paper.lora.alpha / paper.lora.r
        assert spec.training.batch_size == paper.training.batch_size
    sweep = load_spec("lr-sweep", "mini")  # the rates are the sweep's rule's choices (docs/miniworld.md)
    assert set(sweep.models) == set(mini)
    assert all(spec.training.learning_rate in sweep.file.values for spec in mini.values())


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UserError) as error:
        load_model_and_processor("llava-2")
    message = str(error.value)
    assert message.startswith("unknown model 'llava-2'; known models: ")
    for name in model_names():
        assert name in message


def test_a_paper_model_offline_is_a_clear_user_error():
    with pytest.raises(UserError, match=r"paper model 'llava-1.5-7b' \(llava-hf/llava-1.5-7b-hf\) is not in the local Hugging Face cache and HF_HUB_OFFLINE=1"):
        load_model_and_processor("llava-1.5-7b")


def test_directories(tmp_path):
    with pytest.raises(UserError, match="not a model checkpoint directory"):
        load_model_and_processor(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        load_model_and_processor(tmp_path / "file.txt")
    path = build_random_checkpoint("instructblip", tmp_path / "ib")
    model, processor = load_model_and_processor(path, dtype="bfloat16")
    assert type(model).__name__ == "InstructBlipForConditionalGeneration" and not model.training
    assert str(next(model.parameters()).dtype) == "torch.bfloat16"
    assert processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Yes"}]}],
        add_generation_prompt=True) == "USER: Yes ASSISTANT:"
    assert model.language_model.generation_config.max_new_tokens == model.generation_config.max_new_tokens
    with pytest.raises(UserError, match="dtype must be one of float32, bfloat16, float16"):
        load_model_and_processor(path, dtype="int3")


def test_mini_names_resolve_into_the_built_world(tiny_world):
    assert resolve_source("mini-llava-m", tiny_world) == (str(tiny_world.model_dir("mini-llava-m")), "mini-llava-m")
    with pytest.raises(UserError, match="not in .*HF_HUB_OFFLINE=1 forbids downloading"):
        resolve_source("instructblip-13b", HubCache(tiny_world.model_dir("mini-llava-m").parent / "no-hub"))
    model, processor = load_model_and_processor("mini-llava-s", world=tiny_world)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert processor.tokenizer.is_fast
