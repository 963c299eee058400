"""The memory plan: counted parts equal a real PEFT model's bytes; plans and refusals per hardware.

Parameters, LoRA weights, gradients and AdamW's states are counted from the config and must equal
the bytes of a real model exactly; activations and KV caches are estimates and are not checked here.
"""

import copy
from pathlib import Path

import pytest
import yaml

from aspo_repro.cli import main
from aspo_repro.orchestration import memory
from aspo_repro.rehearsal.checkpoints import paper_config
from benchmarks.memory_plan import compare

REPO = Path(__file__).resolve().parents[2]


def small(model: str) -> dict:
    """A paper model's config, narrow and shallow, with grouped-query attention and 3 Q-Former layers
    (cross-attention on 2 of them): every term of the count takes a value of its own."""
    config = copy.deepcopy(paper_config(model))
    config["text_config"].update(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, vocab_size=128)
    config["vision_config"].update(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                                   image_size=28, patch_size=14)
    if "qformer_config" in config:
        config["qformer_config"].update(hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                        num_attention_heads=2, encoder_hidden_size=32, vocab_size=100,
                                        max_position_embeddings=64)
    return config


@pytest.mark.parametrize("model", ["llava-1.5-7b", "instructblip-13b"])
def test_counted_parts_equal_a_real_peft_model_and_adamw(model):
    rows = compare(model, small(model), "cpu", "cpu, small")  # a real backward and optimizer.step()
    assert {row["component"] for row in rows} == {"parameters (bf16)", "LoRA weights (fp32)", "LoRA gradients (fp32)",
                                                  "AdamW states"}
    for row in rows:
        assert row["counted"] > 0
        assert row["estimated"] == row["counted"], row


def test_the_issue_s_trainable_parameters():
    """LoRA r 1024 on every linear layer: 2.56 B trainable parameters on 7B, 4.0 B on 13B (issue 27)."""
    recipe = memory.Lora(1024, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    assert memory.lora_parameters(memory.text_model(paper_config("llava-1.5-7b")), recipe) == 2_558_525_440
    assert memory.lora_parameters(memory.text_model(paper_config("llava-1.5-13b")), recipe) == 4_005_560_320


def shape(model: str, processes: int, micro_batch: int = 10) -> memory.TrainShape:
    recipe = memory.Lora(1024, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    return memory.TrainShape(paper_config(model), recipe, "bf16", micro_batch, 2048, processes)


def test_sharding_divides_what_it_shards():
    ddp, zero2, zero3 = (memory.train_estimate(shape("llava-1.5-13b", 8), s) for s in memory.SHARDINGS)
    assert ddp.total > zero2.total > zero3.total
    assert ddp.parts["DDP gradient buckets"] == ddp.parts["LoRA gradients (fp32)"]
    assert memory.train_estimate(shape("llava-1.5-13b", 1), "ddp").parts["DDP gradient buckets"] == 0
    assert zero3.parts["weights (sharded)"] * 8 == pytest.approx(
        zero2.parts["frozen weights"] + zero2.parts["LoRA weights (bf16)"])


def test_13b_under_ddp_on_80gb_is_refused_with_the_sharding_that_fits():
    hardware = memory.Hardware(8, 80)
    plan = memory.plan_training("llava-1.5-13b", shape("llava-1.5-13b", 8), 80, hardware, "ddp",
                                accelerate_config="configs/accelerate/ddp_8gpu.yaml")
    assert plan.estimate.gib > 100  # the issue's ~110 GB
    assert plan.refusal.startswith("train llava-1.5-13b: needs ")
    assert "DDP under configs/accelerate/ddp_8gpu.yaml" in plan.refusal
    assert "ZeRO-2 fits" in plan.refusal and "set train.accelerate_config: configs/accelerate/zero2_8gpu.yaml" in plan.refusal
    assert memory.plan_training("llava-1.5-13b", shape("llava-1.5-13b", 8), 80, hardware, "zero2").refusal is None
    assert memory.plan_training("llava-1.5-7b", shape("llava-1.5-7b", 8), 80, hardware, "ddp").refusal is None


def test_the_planner_shards_then_shrinks_the_micro_batch_then_8_bit_adam():
    choice, rejected = memory.first_fit(shape("llava-1.5-13b", 8), 80, memory.Hardware(8, 40))
    assert [c.sharding for c in rejected[:3]] == ["ddp", "zero2", "zero3"][: len(rejected[:3])]
    assert choice.sharding == "zero3" or choice.micro_batch < 10
    one_gpu, rejected = memory.first_fit(shape("llava-1.5-13b", 1), 80, memory.Hardware(1, 80))
    assert one_gpu.eight_bit_adam and all(not c.eight_bit_adam for c in rejected[:4])
    assert 80 % one_gpu.micro_batch == 0


def test_fp32_preference_generation_on_80gb_names_a_batch_and_a_dtype():
    config = paper_config("instructblip-13b")
    plan = memory.plan_generation("prefs", "instructblip-13b", config, memory.checkpoint_dtype(config),
                                  memory.Hardware(1, 80), 16, 2, 512, "prefs.batch_size")
    assert memory.checkpoint_dtype(config) == "float32"
    assert plan.refusal and "set prefs.batch_size: " in plan.refusal and "prefs.dtype: bf16" in plan.refusal
    assert memory.plan_generation("prefs", "instructblip-13b", config, "fp16", memory.Hardware(1, 80), 16, 2, 512,
                                  "prefs.batch_size").refusal is None


def reproduce(tmp_path, *args):
    return main(["reproduce", "--table", "1", "--dry-run", "--work-dir", str(tmp_path / "work"),
                 "--results", str(tmp_path / "results"), *args])


def test_dry_run_prints_each_gpu_step_and_refuses_what_cannot_fit(tmp_path, capsys):
    assert reproduce(tmp_path, "--profile", "paper", "--gpus", "1", "--gpu-memory-gb", "141") == 0
    out = capsys.readouterr().out
    assert "memory plan for 1 x 141 GiB" in out
    for kind, model in [("prefs", "instructblip-13b"), ("train", "llava-1.5-13b"), ("evaluate", "llava-1.5-7b")]:
        assert any(line.split()[:2] == [kind, model] and line.endswith("fits") for line in out.splitlines())
    assert reproduce(tmp_path, "--profile", "paper", "--gpus", "8", "--gpu-memory-gb", "80") == 0
    assert any(line.split()[:2] == ["train", "llava-1.5-13b"] and "ZeRO-2 (picked by the plan)" in line
               and line.endswith("fits") for line in capsys.readouterr().out.splitlines())
    assert reproduce(tmp_path, "--profile", "paper", "--gpus", "1", "--gpu-memory-gb", "80") == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("error: memory: train llava-1.5-13b: needs ")
    assert "8-bit Adam fits" in error


def test_a_profile_that_fixes_ddp_is_refused_for_13b_on_80gb_gpus(tmp_path, capsys):
    """The paper profile as it was (every model under ddp_8gpu.yaml): 13B refused, ZeRO-2 named."""
    profile = yaml.safe_load((REPO / "configs" / "profiles" / "paper.yaml").read_text())
    del profile["train"]["accelerate_configs"]
    profile["train"]["accelerate_config"] = "configs/accelerate/ddp_8gpu.yaml"
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(profile))
    assert reproduce(tmp_path, "--profile", str(tmp_path / "ddp.yaml"), "--gpus", "8", "--gpu-memory-gb", "80") == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("error: memory: train llava-1.5-13b: needs 115.4 GiB per GPU")
    assert "ZeRO-2 fits at 54.8: set train.accelerate_config: configs/accelerate/zero2_8gpu.yaml" in error


def test_cpu_profiles_and_machines_without_gpus_are_not_planned(tmp_path, capsys):
    assert reproduce(tmp_path, "--profile", "mini-smoke", "--gpus", "8", "--gpu-memory-gb", "1") == 0
    assert "memory plan" not in capsys.readouterr().out
    assert reproduce(tmp_path, "--profile", "paper", "--gpus", "0") == 0
    assert "memory plan: no GPU seen" in capsys.readouterr().out
    assert reproduce(tmp_path, "--profile", "paper", "--gpus", "2") == 2
    assert "--gpu-memory-gb" in capsys.readouterr().err
