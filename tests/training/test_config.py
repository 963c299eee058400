"""Training settings: YAML at the edge, registry defaults filled in, LoRA scoped to the language model."""

import re

import pytest
import torch

from aspo_repro.errors import UserError
from aspo_repro.methods import get_method
from aspo_repro.models import get_model_spec
from aspo_repro.training import TrainConfig, build_dpo_config, load_train_config
from aspo_repro.training.config import resolve
from aspo_repro.training.lora import target_pattern
from aspo_repro.training.model_source import resolve_model


@pytest.mark.parametrize("name", ["paper", "cpu"])
def test_shipped_configs_load(name):
    config = load_train_config(name)
    assert config.precision == ("bf16" if name == "paper" else "fp32")
    assert config.learning_rate is None  # learning rate and batch size stay the registry's


def test_yaml_keys_override_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "seed: 7\nlora_r: 4\nmethod_options: {alpha: 0.25}\nlora_target_modules: [q_proj]\n"
    )
    config = load_train_config(path)
    assert (config.seed, config.lora_r, config.method_options) == (7, 4, {"alpha": 0.25})
    assert config.lora_target_modules == ("q_proj",)
    assert config.max_length == TrainConfig().max_length


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rat: 0.1\n", "unknown key(s) learning_rat; allowed: seed, learning_rate"),
        ("precision: fp8\n", "precision must be one of fp32, bf16, fp16"),
        ("max_steps: 0\n", "max_steps must be positive"),
        ("method_options: {gamma: 1}\n", "unknown method option(s) gamma"),
        ("- a list\n", "must hold a mapping"),
        ("seed: [unclosed\n", "is not valid YAML"),
    ],
)
def test_bad_yaml_is_a_user_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        load_train_config(path)


def test_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(UserError, match="one of: cpu, paper"):
        load_train_config("nope")


def test_paper_models_resolve_to_the_papers_recipe():
    llava = get_model_spec("llava-1.5-7b")
    settings = resolve(TrainConfig(), llava.training, llava.lora)
    assert (settings.learning_rate, settings.per_device_batch_size, settings.epochs) == (
        2e-6,
        10,
        1,
    )
    assert (settings.lora_r, settings.lora_alpha, settings.scheduler, settings.weight_decay) == (
        1024,
        2048,
        "cosine",
        0.0,
    )
    assert len(settings.lora_target_modules) == 7
    blip = get_model_spec("instructblip-13b")
    settings = resolve(TrainConfig(learning_rate=1e-5), blip.training, blip.lora)
    assert (settings.learning_rate, settings.per_device_batch_size) == (1e-5, 1)
    assert (settings.lora_r, settings.lora_alpha, settings.lora_target_modules) == (
        64,
        16,
        ("q_proj", "k_proj", "v_proj"),
    )


def test_lora_pattern_selects_language_model_layers_only(llava_dir, instructblip_dir):
    from transformers import AutoModelForImageTextToText

    cases = [
        (llava_dir, ("q_proj", "down_proj"), 2),
        (instructblip_dir, ("q_proj", "k_proj", "v_proj"), 3),
    ]
    for directory, names, per_layer in cases:
        model = AutoModelForImageTextToText.from_pretrained(directory)
        pattern = target_pattern(r".*language_model.*", names)
        matched = [name for name, _ in model.named_modules() if re.fullmatch(pattern, name)]
        same_names = [name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in names]
        assert len(matched) == per_layer * model.config.text_config.num_hidden_layers
        assert all("language_model" in name for name in matched)
        if directory == llava_dir:  # CLIP's vision tower has q_proj layers too, left alone
            assert len(same_names) > len(matched)


def test_model_directory_family_comes_from_its_config(llava_dir, instructblip_dir, tmp_path):
    assert resolve_model(str(llava_dir)).family == "llava"
    assert resolve_model(str(instructblip_dir)).family == "instructblip"
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UserError, match="model_type 'bert' is not a supported family"):
        resolve_model(str(tmp_path))


def test_on_the_fly_similarity_uses_the_clip_the_data_was_scored_with(tmp_path):
    from aspo_repro.training.run import data_clip

    assert data_clip({"clip": {"clip": str(tmp_path), "device": "cpu"}}) == str(tmp_path)
    assert data_clip({"clip": {"clip": "ViT-L-14-336/openai"}}) is None  # not a directory: the paper's CLIP
    assert data_clip(None) is None and data_clip({}) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="what a machine without a GPU gets")
def test_paper_config_builds_trainer_arguments_on_a_cpu_only_machine(tmp_path):
    """bf16 without a GPU trains on the CPU (Transformers refuses bf16 unless told so)."""
    llava = get_model_spec("llava-1.5-7b")
    settings = resolve(load_train_config("paper"), llava.training, llava.lora)
    arguments = build_dpo_config(settings, get_method("aspo"), tmp_path)
    assert arguments.bf16 and arguments.use_cpu
    fp32 = build_dpo_config(resolve(TrainConfig(), llava.training, llava.lora), get_method("dpo"), tmp_path)
    assert not fp32.use_cpu
