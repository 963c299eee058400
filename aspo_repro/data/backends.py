"""What a ``prefs`` run uses from the rest of the harness: the model, the CLIP scorer, and (for the
mini world) the ground-truth scene of each instruction.

The model is loaded by ``models.loading`` (a registry name or a model directory; a paper model
without its weights offline is a UserError there). CLIP is ViT-L-14-336/openai for the paper
profile and the world's caption scorer (a small CLIP trained as CLIP is trained) for mini models, through ``clip_scorer.ClipScorer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aspo_repro.data.config import Backends, PrefsConfig
from aspo_repro.devices import resolve_device
from aspo_repro.errors import UserError

PAPER_CLIP = "ViT-L-14-336/openai"


def resolve_dtype(dtype: str | None):
    import torch

    from aspo_repro.models.loading import precision_dtype

    name = precision_dtype(dtype)
    return None if name is None else getattr(torch, name)


def default_backends(config: PrefsConfig, world=None) -> Backends:
    device = resolve_device(config.device)
    clip = clip_choice(config, world)

    def load_model():
        from aspo_repro.models.loading import HubCache, load_model_and_processor

        models = world if world is not None else HubCache(config.hub_cache)
        return load_model_and_processor(config.model, dtype=resolve_dtype(config.dtype), device=device, world=models,
                                        protocol=config.protocol)

    def load_scorer():
        return clip_scorer(clip, device).score

    return Backends(
        load_model=load_model,
        load_scorer=load_scorer,
        describe_model=lambda: describe_model(config.model, device, config.dtype),
        describe_clip=lambda: {"clip": str(clip), "device": device},
        scene_of=scene_lookup(world) if world is not None else None,
    )


def clip_choice(config: PrefsConfig, world=None) -> str:
    """The CLIP a run scores with: ``--clip``, else the world's scorer of mini data (``data_scorer``:
    by default its caption scorer, made on first use), else the paper's."""
    from aspo_repro.aspo_choices import WORLD_SCORERS

    if config.clip:
        return config.clip
    if world is not None:
        return str(WORLD_SCORERS[config.data_scorer].checkpoint(world))
    return PAPER_CLIP


def clip_scorer(clip: str, device: str):
    """``ClipScorer`` of an open_clip checkpoint directory, or of ``ARCH/PRETRAINED`` weights."""
    from aspo_repro.clip_scorer import ClipScorer

    if Path(clip).is_dir():
        return ClipScorer.from_dir(clip, device=device)
    architecture, separator, pretrained = clip.partition("/")
    if not separator or not architecture or not pretrained:
        raise UserError(f"--clip {clip!r} is neither a CLIP directory nor open_clip ARCH/PRETRAINED "
                        f"(e.g. {PAPER_CLIP})")
    return ClipScorer.from_pretrained(architecture, pretrained, device=device)


def describe_model(name: str, device: str, dtype: str | None) -> dict[str, Any]:
    from aspo_repro.storage import stable_hash

    description: dict[str, Any] = {"device": device, "dtype": dtype}
    directory = Path(name)
    if (directory / "config.json").is_file():
        files = sorted((p.relative_to(directory).as_posix(), p.stat().st_size) for p in directory.rglob("*") if p.is_file())
        description["directory_fingerprint"] = stable_hash(files)
    else:
        from aspo_repro.models import get_model_spec

        spec = get_model_spec(name)
        description.update({"source": spec.source, "family": spec.family, "profile": spec.profile})
    return description


def world_scenes(world) -> dict:
    """Every scene of the mini world, by id."""
    return {scene.id: scene for split in ("pool", "sft", "bench") for scene in world.scenes(split)}


def scene_lookup(world):
    """The ground-truth scene of a mini-world instruction, found through its image's scene id."""
    scenes = world_scenes(world)
    return lambda instruction: scenes[instruction.image_path.stem]
