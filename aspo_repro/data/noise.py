"""The rejected image of the SeVa pipeline: forward diffusion of the processor's pixel tensor.

``x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps`` at step ``t`` of 1000 with the sigmoid
beta schedule ``betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5``
(``docs/aspo-math.md``, "Preference data"); diffusers' DDPMScheduler computes exactly
this. The noise of each image is drawn from its own seed, derived from the run's seed and the
instruction's id, so a pair does not depend on batching, sharding or resuming.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from aspo_repro.errors import UserError
from aspo_repro.storage import stable_hash

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 1e-5
BETA_END = 5e-3
DEFAULT_NOISE_STEP = 500


@lru_cache(maxsize=1)
def diffusion_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS,
        beta_schedule="sigmoid",
        beta_start=BETA_START,
        beta_end=BETA_END,
    )


def check_noise_step(step: int) -> int:
    if not 0 <= step < NUM_TRAIN_TIMESTEPS:
        raise UserError(f"--noise-step must lie in [0, {NUM_TRAIN_TIMESTEPS - 1}]; got {step}")
    return step


def noise_seed(seed: int, instruction_id: str) -> int:
    """A 63-bit seed for one instruction's noise."""
    return int(stable_hash(["seva-noise", seed, instruction_id])[:15], 16)


def gaussian_noise(shape: torch.Size | tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def add_diffusion_noise(pixel_values: torch.Tensor, step: int, seeds: list[int]) -> torch.Tensor:
    """Noise each image of a batch ``(B, ...)`` to diffusion ``step``, image ``b`` with ``seeds[b]``.

    Computed in float32 on the CPU (so the result is the same on any device) and returned in the
    input's dtype and device.
    """
    check_noise_step(step)
    if len(seeds) != pixel_values.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for a batch of {pixel_values.shape[0]} images")
    clean = pixel_values.detach().to("cpu", torch.float32)
    noise = torch.stack([gaussian_noise(clean.shape[1:], seed) for seed in seeds])
    timesteps = torch.full((clean.shape[0],), step, dtype=torch.long)
    noised = diffusion_scheduler().add_noise(clean, noise, timesteps)
    return noised.to(device=pixel_values.device, dtype=pixel_values.dtype)
