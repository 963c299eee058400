"""The rejected image's noise: forward diffusion at step t of the sigmoid schedule, in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from aspo_repro.data.noise import add_diffusion_noise, diffusion_scheduler, noise_seed
from aspo_repro.errors import UserError


def closed_form_alpha_bar(step: int) -> float:
    """abar_t = prod_{s<=t} (1 - beta_s), betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5,
    in float64, independently of diffusers."""
    product = 1.0
    for s in range(step + 1):
        x = -6 + 12 * s / 999
        beta = 1 / (1 + math.exp(-x)) * (5e-3 - 1e-5) + 1e-5
        product *= 1 - beta
    return product


def test_step_500_matches_the_closed_form():
    x0 = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    seeds = [11, 12]
    noised = add_diffusion_noise(x0, 500, seeds)
    abar = closed_form_alpha_bar(500)
    eps = torch.stack([torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
    expected = math.sqrt(abar) * x0.double() + math.sqrt(1 - abar) * eps.double()
    torch.testing.assert_close(noised.double(), expected, rtol=0, atol=1e-5)


def test_alpha_bar_at_500_is_the_published_schedule_value():
    # By hand: sum of betas to step 500 ~ (5e-3 - 1e-5) * (integral of sigmoid on [-6, 0] = ln 2 - ln(1 + e^-6))
    # / (12 / 999) + 501e-5 = 0.292, so abar ~ exp(-0.292) = 0.747: a quarter of the signal's variance is noise.
    abar = float(diffusion_scheduler().alphas_cumprod[500])
    assert abar == pytest.approx(closed_form_alpha_bar(500), rel=1e-6)
    by_hand = math.exp(-((5e-3 - 1e-5) * (math.log(2) - math.log(1 + math.exp(-6))) / (12 / 999) + 501e-5))
    assert abar == pytest.approx(by_hand, abs=0.005)


def test_noise_is_per_image_and_independent_of_the_batch():
    x0 = torch.rand(3, 3, 4, 4)
    together = add_diffusion_noise(x0, 500, [1, 2, 3])
    alone = add_diffusion_noise(x0[1:2], 500, [2])
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=0)
    assert not torch.equal(together[0], together[1])


def test_step_zero_barely_changes_the_image_and_keeps_dtype():
    x0 = torch.rand(1, 3, 4, 4, dtype=torch.bfloat16)
    noised = add_diffusion_noise(x0, 0, [5])
    assert noised.dtype == torch.bfloat16
    assert (noised.float() - x0.float()).abs().max() < 0.02  # sqrt(beta_0) ~ 0.0033 times N(0, 1)


def test_noise_seeds_depend_on_run_seed_and_id():
    assert noise_seed(0, "a") == noise_seed(0, "a")
    assert len({noise_seed(0, "a"), noise_seed(1, "a"), noise_seed(0, "b")}) == 3


@pytest.mark.parametrize("step", [-1, 1000])
def test_out_of_range_step_is_a_user_error(step):
    with pytest.raises(UserError, match="noise-step"):
        add_diffusion_noise(torch.zeros(1, 3, 2, 2), step, [0])
