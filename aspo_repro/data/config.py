"""What a preference-data build is asked (``PrefsConfig``, a profile's ``prefs:`` section) and what it
needs from outside (``Backends``: the model, the CLIP scorer, the mini world's ground truth), kept
apart from the pipeline that runs it so that the backends and the profiles import them alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro.aspo_choices import DATA_SCORER, WORLD_SCORERS
from aspo_repro.data.generation import DEFAULT_MAX_NEW_TOKENS
from aspo_repro.data.noise import DEFAULT_NOISE_STEP, check_noise_step
from aspo_repro.errors import UserError
from aspo_repro.files import SET_PER_JOB

if TYPE_CHECKING:
    from aspo_repro.data.instructions import Instruction

MINI_SOURCE = "mini"
DEFAULT_SHARD_SIZE = 64

Scorer = Callable[[Sequence, Sequence[str]], Sequence[float]]


@dataclass(frozen=True)
class PrefsConfig:
    """One preference-data build. ``instructions`` is ``mini`` or a LLaVA-Instruct JSON file.

    A profile's ``prefs:`` section is this config; the fields marked :data:`SET_PER_JOB` are filled
    in for each model by ``reproduce`` (the ``prefs`` command takes them from its flags)."""

    model: str = field(default="", metadata=SET_PER_JOB)
    out: Path | None = field(default=None, metadata=SET_PER_JOB)
    instructions: str = MINI_SOURCE
    image_dir: Path | None = None
    sample: int | None = None
    seed: int = 0
    limit: int | None = None
    noise_step: int = DEFAULT_NOISE_STEP
    batch_size: int = 8
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    shard_size: int = DEFAULT_SHARD_SIZE
    on_error: str = "stop"
    clip: str | None = None  # open_clip "ARCH/PRETRAINED" or a directory; None: the profile's CLIP
    # which of the mini world's scorers (aspo_choices.WORLD_SCORERS) scores mini data when ``clip`` is None
    data_scorer: str = DATA_SCORER
    device: str = "auto"
    dtype: str | None = None
    world_seed: int = field(default=0, metadata=SET_PER_JOB)
    world_size: str = field(default="full", metadata=SET_PER_JOB)
    world_replicate: int = field(default=0, metadata=SET_PER_JOB)
    cache_dir: Path | None = field(default=None, metadata=SET_PER_JOB)
    # where a paper model's checkpoint resolves (None: the default cache)
    hub_cache: Path | None = field(default=None, metadata=SET_PER_JOB)
    progress: bool = field(default=True, metadata=SET_PER_JOB)
    # the evaluation protocol whose conversation a paper checkpoint is prompted in (evaluation/protocols.py:
    # llava = LLaVA-1.5's vicuna_v1, as SeVa generated its pairs); None: the checkpoint's own chat template
    protocol: str | None = None

    def __post_init__(self) -> None:
        check_noise_step(self.noise_step)
        if self.data_scorer not in WORLD_SCORERS:
            raise UserError(f"data_scorer must be one of {', '.join(WORLD_SCORERS)}; got {self.data_scorer!r}")
        if self.protocol is not None:
            from aspo_repro.evaluation.protocols import get_protocol

            get_protocol(self.protocol)
        for name in ("batch_size", "max_new_tokens", "shard_size"):
            if getattr(self, name) <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive; got {getattr(self, name)}")
        if self.limit is not None and self.limit <= 0:
            raise UserError(f"--limit must be positive; got {self.limit}")
        if self.instructions != MINI_SOURCE and self.image_dir is None:
            raise UserError("a LLaVA-Instruct JSON source needs --image-dir (the COCO image folder)")

    @property
    def is_mini(self) -> bool:
        return self.instructions == MINI_SOURCE

    def settings(self) -> dict[str, Any]:
        """What determines the pairs (the resume fingerprint); batch size and device do not. (The
        protocol is named only when set, so data built before it existed keeps its fingerprint.)"""
        return {
            **({"protocol": self.protocol} if self.protocol is not None else {}),
            "model": self.model,
            "instructions": self.instructions,
            "image_dir": str(self.image_dir) if self.image_dir else None,
            "sample": self.sample,
            "seed": self.seed,
            "limit": self.limit,
            "noise_step": self.noise_step,
            "max_new_tokens": self.max_new_tokens,
            "shard_size": self.shard_size,
            "clip": self.clip,
            # which of the world's scorers scored mini data (it changed: data scored by another is not this data)
            **({"data_scorer": self.data_scorer} if self.is_mini and not self.clip else {}),
            "dtype": self.dtype,
            "world": ({"seed": self.world_seed, "size": self.world_size, "replicate": self.world_replicate}
                      if self.is_mini else None),
        }


@dataclass
class Backends:
    """What the pipeline needs from outside, built only when there is work to do."""

    load_model: Callable[[], tuple[Any, Any]]  # () -> (model, processor)
    load_scorer: Callable[[], Scorer]  # () -> score(images, sentences)
    describe_model: Callable[[], dict[str, Any]] = dict
    describe_clip: Callable[[], dict[str, Any]] = dict
    scene_of: Callable[[Instruction], Any] | None = None  # the mini world's ground truth, if any
