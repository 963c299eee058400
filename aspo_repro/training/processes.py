"""The processes a run trains in: how many were started together, whether they form one job,
whether the Trainer must be told the CPU is meant."""

from __future__ import annotations

import os

from aspo_repro.errors import UserError


def launched_processes() -> int:
    """How many processes were started together (``accelerate launch`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_processes_form_one_job(precision: str) -> None:
    """Processes started together (``WORLD_SIZE``) must form one job, or each would train alone
    and all would write the same run directory: accelerate falls back to one process each when
    its config asks for devices the machine lacks and the CPU is not named (``use_cpu``)."""
    from accelerate import PartialState

    launched = launched_processes()
    state = PartialState(cpu=trains_on_cpu_only(precision))  # the state the Trainer then shares
    if launched > 1 and state.num_processes != launched:
        raise UserError(
            f"started as {launched} processes, but they do not form one training job (each sees "
            f"{state.num_processes}, distributed type {state.distributed_type.value}): the accelerate "
            "config asks for devices this machine does not have; launch with a config for this machine"
        )


def trains_on_cpu_only(precision: str) -> bool:
    """Whether the Trainer must be told the CPU is meant (``use_cpu``) on a machine with no GPU:
    Transformers refuses bf16 there otherwise, and processes started together (DDP over gloo)
    only form one job when accelerate knows they run on the CPU.

    (A GPU without bf16 still gets Transformers' own error.)
    """
    import torch
    from transformers.utils import is_torch_bf16_gpu_available

    if torch.cuda.is_available():
        return False
    return launched_processes() > 1 or (precision == "bf16" and not is_torch_bf16_gpu_available())
