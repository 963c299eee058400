"""Training settings: YAML at the edge, registry defaults filled in, LoRA scoped to the language model."""

import re

import pytest
import torch

from aspo_repro.errors import UserError
from aspo_repro.methods import get_method
from aspo_repro.models import get_model_spec
from aspo_repro.training import TrainConfig, build_dpo_config, load_train_config
from aspo_repro.training.config import resolve, split_batch
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


# The paper profile's models on the paper's node, one GPU, and the rehearsal's 2 CPU processes:
# (model, processes) -> (per-device batch, gradient accumulation); global 80 for LLaVA-1.5, 8 for InstructBLIP.
PAPER_SPLITS = {
    ("llava-1.5-7b", 8): (10, 1), ("llava-1.5-7b", 1): (10, 8), ("llava-1.5-7b", 2): (10, 4),
    ("llava-1.5-13b", 8): (10, 1), ("llava-1.5-13b", 1): (10, 8), ("llava-1.5-13b", 2): (10, 4),
    ("instructblip-13b", 8): (1, 1), ("instructblip-13b", 1): (1, 8), ("instructblip-13b", 2): (1, 4),
}


@pytest.mark.parametrize(("model", "processes"), list(PAPER_SPLITS))
def test_the_papers_global_batch_splits_over_the_processes_a_run_gets(model, processes):
    spec = get_model_spec(model)
    settings = resolve(load_train_config("paper"), spec.training, spec.lora, processes=processes)
    split = settings.batch
    assert (split.per_device_batch_size, split.gradient_accumulation_steps) == PAPER_SPLITS[model, processes]
    assert split.per_device_batch_size * split.gradient_accumulation_steps * processes == split.global_batch_size
    assert split.global_batch_size == {"llava": 80, "instructblip": 8}[spec.family]
    arguments = build_dpo_config(settings, get_method("dpo"), "unused")
    assert (arguments.per_device_train_batch_size, arguments.gradient_accumulation_steps) == PAPER_SPLITS[model, processes]


@pytest.mark.parametrize("model", ["mini-llava-s", "mini-llava-m", "mini-instructblip"])
def test_mini_models_train_their_batch_in_one_step_as_before(model):
    spec = get_model_spec(model)
    settings = resolve(load_train_config("cpu"), spec.training, spec.lora)
    assert settings.batch.as_dict() == {"global_batch_size": spec.training.batch_size, "processes": 1,
                                        "per_device_batch_size": spec.training.batch_size,
                                        "gradient_accumulation_steps": 1}
    recorded = settings.as_dict()
    assert (recorded["per_device_batch_size"], recorded["gradient_accumulation_steps"]) == (spec.training.batch_size, 1)
    assert "global_batch_size" not in recorded  # one process: keyed as before the global batch existed


def test_several_processes_name_the_global_batch_in_the_run_key():
    spec = get_model_spec("llava-1.5-7b")
    one = resolve(TrainConfig(global_batch_size=20), spec.training, spec.lora, processes=1).as_dict()
    two = resolve(TrainConfig(global_batch_size=40), spec.training, spec.lora, processes=2).as_dict()
    assert (one["per_device_batch_size"], one["gradient_accumulation_steps"]) == (10, 2)
    assert (two["per_device_batch_size"], two["gradient_accumulation_steps"], two["global_batch_size"]) == (10, 2, 40)


@pytest.mark.parametrize(("global_batch", "limit", "processes", "split"), [
    (80, 10, 8, (10, 1)), (80, 3, 8, (2, 5)), (80, 10, 16, (5, 1)), (8, 1, 8, (1, 1)), (32, 1, 8, (1, 4)),
    (10, 10, 1, (10, 1)), (10, 10, 2, (5, 1)), (7, 4, 1, (1, 7)),
])
def test_a_split_takes_the_largest_micro_batch_that_divides_a_process_share(global_batch, limit, processes, split):
    result = split_batch(global_batch, limit, processes)
    assert (result.per_device_batch_size, result.gradient_accumulation_steps) == split
    assert result.per_device_batch_size <= limit


def test_a_global_batch_the_processes_cannot_divide_is_refused():
    with pytest.raises(UserError, match="a global batch of 10 pairs cannot be split over 8 processes"):
        split_batch(10, 10, 8)
    spec = get_model_spec("mini-instructblip")
    with pytest.raises(UserError, match="global batch of 1 pairs cannot be split over 2 processes"):
        resolve(TrainConfig(), spec.training, spec.lora, processes=2)


def test_accumulation_is_derived_never_set():
    with pytest.raises(UserError, match="gradient_accumulation_steps"):
        TrainConfig().with_overrides(gradient_accumulation_steps=2)


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


def test_a_model_directory_trains_with_the_mini_recipe_of_its_family(llava_dir, instructblip_dir):
    for directory, mini_model in ((llava_dir, "mini-llava-s"), (instructblip_dir, "mini-instructblip")):
        choice = resolve_model(str(directory))
        assert (choice.lora, choice.training) == (get_model_spec(mini_model).lora, get_model_spec(mini_model).training)


def test_on_the_fly_similarity_uses_the_clip_the_data_was_scored_with(tmp_path):
    from aspo_repro.training.similarity import data_clip

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
