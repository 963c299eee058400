"""The judge-trained scorer (``scorer=judge-trained``): a CLIP whose loss is told the exact judge's
verdicts on the world's sentences, with hard negatives from the judge's error kinds
(``clip_train.py``, objective ``judged``). A labelled variant of ASPO-S, never its default (the caption
scorer, ``caption_clip.py``); the mini-smoke profile's data is scored with it.

It is made from a built world on first use and cached beside it, not in it, as the caption scorer is:
``<cache>/judge-trained-scorers/<world dir name>/<config key>/``, keyed by the world, its data stage's
fingerprint, the scorer's config and this module's code, so that a world built for the first command,
which does not need it, takes no time to train it (docs/scorer.md).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from aspo_repro.miniworld.config import ClipConfig, tiny_clip

SCORERS_DIR = "judge-trained-scorers"

# Per world size (``config.SIZES``): the configuration chosen at stop 33 by AUC against the judge on the
# preference pairs (docs/miniworld.md), and the tiny world's few steps.
FULL = ClipConfig(objective="judged", steps=1000)
SIZE_CONFIGS = {"full": FULL, "tiny": tiny_clip(FULL)}


def config_key(config: ClipConfig) -> str:
    from aspo_repro.storage import stable_hash

    return stable_hash(asdict(config))[:16]


def scorer_dir(world, config: ClipConfig) -> Path:
    """Where the judge-trained scorer of ``world`` and ``config`` lives: beside the world, not in it."""
    from aspo_repro.miniworld.cache import beside_world

    return beside_world(world, SCORERS_DIR, config_key(config))


def scorer_inputs(world, config: ClipConfig) -> dict:
    """What the cached scorer is made from: the world, its data, the config and this module's code."""
    from aspo_repro.miniworld.cache import stage_fingerprint
    from aspo_repro.storage import sha256_file

    return {"stage": "judge-trained-scorer", "world": world.root.name, "data": stage_fingerprint(world.data_dir),
            "config": asdict(config), "code": sha256_file(Path(__file__))}


def judge_trained_scorer_built(world) -> bool:
    """Whether ``world`` (built or not) has its judge-trained scorer, complete and intact."""
    from aspo_repro.miniworld.cache import built_beside

    config = SIZE_CONFIGS[world.size]
    return built_beside(scorer_dir(world, config), lambda: scorer_inputs(world, config), [world.data_dir])


def ensure_judge_trained_scorer(world, progress: bool = True, position: int = 0) -> Path:
    """The judge-trained scorer's checkpoint directory for a built ``world``, trained on first use
    (``position``: its progress bar's line)."""
    from aspo_repro.miniworld.cache import ensure_beside
    from aspo_repro.miniworld.clip_train import train_clip

    config = SIZE_CONFIGS[world.size]
    return ensure_beside(
        scorer_dir(world, config), scorer_inputs(world, config),
        lambda tmp: train_clip(world.data_dir, tmp, config, world.config.data.image, world.seed, progress,
                               position, world.replicate),
        what="judge-trained scorer", progress=progress)
