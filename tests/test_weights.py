import math

import pytest
import torch

from aspo_repro.weights import (
    adaptive_weights,
    minmax_normalise,
    perplexity_weights,
    unit_statistics,
)


def test_unit_sums_match_a_loop():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.5, 9.0, 9.0, 9.0]])
    units = torch.tensor([[0, 0, 1, 2, 2], [1, 1, -1, -1, -1]])
    expected = torch.zeros(2, 3)
    for b in range(2):
        for t in range(5):
            if units[b, t] >= 0:
                expected[b, units[b, t]] += values[b, t]
    rewards, mean_nll, counts = unit_statistics(values, None, units, 3)
    assert torch.equal(rewards, expected)
    assert counts.tolist() == [[2, 1, 2], [0, 2, 0]]
    assert mean_nll is None


def test_minmax_by_hand():
    values = torch.tensor([[2.0, 4.0, 3.0], [1.0, 1.0, 1.0], [7.0, 0.0, -5.0]])
    mask = torch.tensor([[True, True, True], [True, True, True], [True, False, False]])
    out = minmax_normalise(values, mask)
    assert out.tolist() == [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_minmax_ignores_masked_and_nan_units():
    values = torch.tensor([[0.2, float("nan"), 0.6, 100.0]])
    mask = torch.tensor([[True, False, True, False]])
    assert minmax_normalise(values, mask).tolist() == [[0.0, 0.0, 1.0, 0.0]]


def test_perplexity_weights_match_the_definition():
    nll = torch.tensor([[0.5, 1.5, 1.0, 2.5]], dtype=torch.float64)
    mask = torch.ones_like(nll, dtype=torch.bool)
    ppl = [math.exp(v) for v in nll[0].tolist()]
    expected = [(max(ppl) - p) / (max(ppl) - min(ppl)) for p in ppl]
    assert perplexity_weights(nll, mask)[0].tolist() == pytest.approx(expected, rel=1e-6)


def test_perplexity_weights_do_not_overflow():
    nll = torch.tensor([[1.0, 300.0, 150.0]])
    out = perplexity_weights(nll, torch.ones(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all()
    assert out[0, 0].item() == pytest.approx(1.0) and out[0, 1].item() == 0.0


def test_unit_mean_nll():
    logps = torch.tensor([[-1.0, -3.0, -0.5, 0.0]])
    units = torch.tensor([[0, 0, 1, -1]])
    assert unit_statistics(torch.zeros_like(logps), logps, units, 2)[1].tolist() == [[2.0, 0.5]]


def test_adaptive_weights_combine_linearly():
    mask = torch.ones(1, 3, dtype=torch.bool)
    sims = torch.tensor([[0.0, 1.0, 0.5]])
    nll = torch.tensor([[0.1, 0.1, 2.0]])
    s_hat = minmax_normalise(sims, mask)
    p_hat = perplexity_weights(nll, mask)
    for alpha in (0.0, 0.25, 0.5, 1.0):
        torch.testing.assert_close(adaptive_weights(alpha, mask, sims, nll), alpha * s_hat + (1 - alpha) * p_hat)
    with pytest.raises(ValueError, match="similarit"):
        adaptive_weights(0.5, mask, None, nll)
    assert adaptive_weights(1.0, mask, sims, None).tolist() == s_hat.tolist()
