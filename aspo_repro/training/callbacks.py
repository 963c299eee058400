"""The Trainer callbacks of a run: TensorBoard when asked for, and those that plugins register.

A plugin is any installed distribution (a ``*.dist-info`` on ``sys.path``) with an entry point in
the group ``aspo_repro.trainer_callbacks``; the entry point names a function that takes no
argument and returns a ``transformers.TrainerCallback``, or None to add none to this run. The
tests' kill-and-resume checks arm their fault injection this way
(``tests/training/fault_injection/``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

PLUGIN_GROUP = "aspo_repro.trainer_callbacks"


def run_callbacks(tensorboard_dir: Path | None) -> list:
    """TensorBoard's callback writing to ``tensorboard_dir`` (None: no TensorBoard), then the plugins'."""
    callbacks = [] if tensorboard_dir is None else [tensorboard_callback(tensorboard_dir)]
    return callbacks + plugin_callbacks()


def tensorboard_callback(log_dir: Path):
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(SummaryWriter(log_dir=str(log_dir)))


def plugin_callbacks() -> list:
    """The callbacks installed plugins add, in the order of their entry points' names."""
    factories = sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name)
    callbacks = [point.load()() for point in factories]
    return [callback for callback in callbacks if callback is not None]
