"""Fault injection for the kill-and-resume checks: a Trainer callback, registered as a plugin of
``aspo_repro.training.callbacks``, that SIGKILLs its process at the end of optimiser step N.

It is armed in a process whose environment has this directory on ``PYTHONPATH`` (where the
plugin's ``*.dist-info`` lies) and ``ASPO_REPRO_KILL_AT_STEP=N``: ``armed_environment(N)``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

KILL_ENV = "ASPO_REPRO_KILL_AT_STEP"
PLUGIN_DIR = Path(__file__).resolve().parent


def armed_environment(step: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` for a process that kills itself at the end of optimiser step ``step``."""
    path = [str(PLUGIN_DIR), *filter(None, [environ.get("PYTHONPATH")])]
    return {**environ, "PYTHONPATH": os.pathsep.join(path), KILL_ENV: str(step)}


def callback():
    """The entry point: the kill callback when the environment arms it, else None."""
    step = os.environ.get(KILL_ENV)
    return None if not step else _kill_at_step(int(step))


def _kill_at_step(step: int):
    from transformers import TrainerCallback

    class KillAtStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    return KillAtStep()
