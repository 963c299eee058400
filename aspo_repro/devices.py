"""Choosing the torch device a command runs on: ``auto`` is the best one available.

Every path that loads a model for generation (``prefs``, ``evaluate``, ``reproduce``'s steps)
resolves its device here, so a bad name gets the same message everywhere and the default is the
same everywhere: CUDA when present, else the CPU.
"""

from __future__ import annotations

import re

from aspo_repro.errors import UserError

AUTO = "auto"
ALLOWED = "auto, cpu, cuda, cuda:N, mps"
_PATTERN = re.compile(r"(cpu|mps|cuda)(:\d+)?")


def best_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def visible_gpus() -> int:
    """CUDA GPUs this process sees (``CUDA_VISIBLE_DEVICES`` respected); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str | None) -> str:
    """``name`` checked against what this machine has; None and ``auto`` give ``best_device()``."""
    if name is None or name == AUTO:
        return best_device()
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise UserError(f"unknown device {name!r}; allowed: {ALLOWED}")
    import torch

    kind, _, index = name.partition(":")
    if kind == "cuda":
        count = visible_gpus()
        if count == 0:
            raise UserError(f"device {name!r} asked for, but this machine has no CUDA GPU; use cpu or auto")
        if index and int(index) >= count:
            raise UserError(f"device {name!r} does not exist: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {name!r} asked for, but MPS is not available here; use cpu or auto")
    return name
