"""pytest-benchmark of one training step (forward, backward) on the tiny LLaVA: stock TRL's
``DPOTrainer`` against the project's trainer with this issue's switches off (``baseline``) and on
(``default``). ``tox -e bench`` (or ``pytest benchmarks --benchmark-enable``); the full table with
ratios, memory and the one-off reference pass is ``python benchmarks/train_throughput.py``.
"""

import tempfile
from pathlib import Path

import pytest
import torch

from benchmarks.train_throughput import (
    SIZES,
    build_trainer,
    parse_args,
    save_model_files,
    save_preferences,
)

SIZE = SIZES["tiny"]


@pytest.fixture(scope="module")
def world():
    with tempfile.TemporaryDirectory(prefix="train-step-") as root:
        root = Path(root)
        yield {
            "root": root,
            "model": save_model_files(SIZE, root / "model"),
            "prefs": save_preferences(SIZE, root / "prefs", pairs=4),
        }


@pytest.mark.benchmark(group="train step: tiny LLaVA, 2 pairs, forward + backward")
@pytest.mark.parametrize(
    ("variant", "method"),
    [
        ("stock", "dpo"),
        ("baseline", "dpo"),
        ("default", "dpo"),
        ("baseline", "aspo"),
        ("default", "aspo"),
    ],
)
def test_train_step(benchmark, world, variant, method):
    torch.set_num_threads(1)
    args = parse_args(["--size", "tiny", "--steps", "2", "--warmup", "1"])
    trainer, _ = build_trainer(args, SIZE, world, variant, method, torch.device("cpu"))
    rows = [trainer.train_dataset[i] for i in range(2)]
    inputs = trainer._prepare_inputs(trainer.data_collator(rows))
    trainer.state.global_step = 1  # past the first step, where the cached reference is not read
    model = trainer.model.train()

    def step():
        loss = trainer.compute_loss(model, inputs)
        loss.backward()
        model.zero_grad()
        return loss.item()

    loss = benchmark.pedantic(step, rounds=10, warmup_rounds=2)
    assert abs(loss - 0.6931471805599453) < 1e-5  # a fresh adapter: policy = reference


def test_flop_counter_counts_the_cpu_attention_kernel():
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    from benchmarks.train_throughput import flop_counter

    query = torch.randn(2, 4, 16, 8, requires_grad=True)
    causal = torch.ones(16, 16, dtype=torch.bool).tril()
    with flop_counter() as counter:
        torch.nn.functional.scaled_dot_product_attention(
            query, query, query, attn_mask=causal
        ).sum().backward()
    shape = tuple(query.shape)
    assert counter.get_total_flops() == sdpa_flop_count(shape, shape, shape) + (
        sdpa_backward_flop_count(shape, shape, shape, shape)
    )


def test_work_scales_each_tower_by_its_deepest_working_layer():
    from benchmarks.train_throughput import Work

    work = Work(
        total=100,
        by_module={
            "Peft.base_model.model.model.language_model.layers.0": 10,
            "Peft.base_model.model.model.language_model.layers.1": 14,
            "Peft.base_model.model.model.language_model.layers.0.self_attn": 6,
            "Peft.base_model.model.model.vision_tower.vision_model.encoder.layers.0": 3,
            "Peft.base_model.model.model.vision_tower.vision_model.encoder.layers.1": 0,
        },
    )
    assert work.with_more_layers(0, 0) == 100
    assert work.with_more_layers(30, 22) == 100 + 30 * 14 + 22 * 3
