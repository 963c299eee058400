"""The merge-precision measurement on small shapes: ``pytest benchmarks/test_merge_precision.py``.

The paper-sized numbers come from ``python benchmarks/merge_precision.py`` (docs/merge-precision.md).
"""

import argparse
import math

import pytest
import torch

from benchmarks.merge_precision import (
    Measurement,
    measure_linear,
    schedule_sums,
    table,
    trained_adapter,
)


def test_every_adapter_parameter_moves_by_the_summed_learning_rate():
    sums = schedule_sums(300, 2e-6)
    assert sums[0] == pytest.approx(sum(2e-6 * 0.5 * (1 + math.cos(math.pi * t / 300)) for t in range(300)))
    assert sums[1] == pytest.approx(sums[0] - 2e-6)  # A's gradient is zero at step 1
    a0_gen, gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a, b = trained_adapter(64, 128, 16, sums, gen)
    a0 = torch.empty(16, 128)
    torch.nn.init.kaiming_uniform_(a0, a=5 ** 0.5, generator=a0_gen)
    assert torch.allclose(b.abs(), torch.full_like(b, sums[0]))
    assert torch.allclose((a - a0).abs(), torch.full_like(a, sums[1]), atol=1e-9)


def test_fp32_keeps_the_update_and_bf16_rounds_part_of_it_away():
    measurement = Measurement()
    args = argparse.Namespace(r=64, alpha=128, std=0.02)
    measure_linear(measurement, (256, 512), args, schedule_sums(300, 2e-6), torch.Generator().manual_seed(0))
    kept = {row["merge"]: row["update_kept"] for row in table(measurement)}
    assert kept["fp32"] > 0.9999 and kept["fp32 -> fp16"] > 0.95
    assert kept["bf16"] < kept["fp32 -> fp16"] - 0.1
