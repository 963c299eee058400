"""pytest-benchmark of the loss core: ``tox -e bench`` (or pytest benchmarks --benchmark-enable).

The ratio against DPO, measured in one run, is printed by ``python benchmarks/loss_speed.py``.
"""

import pytest

from benchmarks.loss_speed import core_inputs, realistic_batch, run_core, run_step, step_inputs


@pytest.fixture(scope="module")
def batch():
    return realistic_batch(vocab=8192)


@pytest.mark.benchmark(group="loss-core: 8 pairs x 768 tokens from per-token log-probs")
@pytest.mark.parametrize("method", ["dpo", "aspo"])
def test_loss_core(benchmark, batch, method):
    inputs = core_inputs(batch)
    benchmark(run_core, method, batch, inputs)


@pytest.mark.benchmark(group="loss-step: 8 pairs x 768 tokens from logits, vocab 8192")
@pytest.mark.parametrize("method", ["dpo", "aspo"])
def test_loss_step(benchmark, batch, method):
    inputs = step_inputs(batch, vocab=8192)
    benchmark.pedantic(run_step, args=(method, batch, inputs), rounds=5, warmup_rounds=1)
