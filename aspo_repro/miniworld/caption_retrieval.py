"""Held-out caption retrieval: how the caption scorer's settings are chosen (docs/scorer.md).

Scenes of no split of the world, drawn by its scene sampler and rendered by its renderer, each
captioned by its whole description (``grammar.describe``); image -> text and text -> image recall@k
of a CLIP checkpoint among them. Kept apart from ``caption_clip.py``, whose code keys the cached
scorers: measuring them differently does not retrain them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.miniworld import grammar
from aspo_repro.miniworld.scene import Scene, sample_scenes

HELDOUT_SPLIT = "caption-heldout"


@dataclass(frozen=True)
class HeldOut:
    scenes: list[Scene]
    images: list  # PIL images, rendered as the world renders
    captions: list[str]  # each scene's whole description


def heldout_set(world, count: int = 500) -> HeldOut:
    """``count`` scenes of no split of the world, drawn and rendered as the world draws and renders."""
    from aspo_repro.miniworld.render import render_scene

    data = world.config.data
    scenes = sample_scenes(world.seed, HELDOUT_SPLIT, count, data.bias)
    images = [render_scene(scene, data.image.image_size, data.grain) for scene in scenes]
    captions = [grammar.describe(scene, random.Random(f"aspo-caption-heldout:{scene.id}")) for scene in scenes]
    return HeldOut(scenes, images, captions)


def retrieval(similarity, captions: list[str], ks: tuple[int, ...] = (1, 5)) -> dict:
    """Image -> text and text -> image recall@k of an (images, texts) similarity matrix whose row i and
    column i belong together; an item retrieved counts as right when its caption equals the query's."""
    import numpy as np

    similarity = np.asarray(similarity, dtype=float)
    same = np.array([[a == b for b in captions] for a in captions])
    report = {}
    for direction, matrix in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        ranked = np.argsort(-matrix, axis=1, kind="stable")
        for k in ks:
            hits = [bool(same[i, ranked[i, :k]].any()) for i in range(len(captions))]
            report[f"{direction}_r{k}"] = round(float(np.mean(hits)), 4)
    report["mean_r1"] = round((report["image_to_text_r1"] + report["text_to_image_r1"]) / 2, 4)
    return report


def checkpoint_retrieval(checkpoint: Path, heldout: HeldOut) -> dict:
    """Held-out caption retrieval of an open_clip ``local-dir`` checkpoint."""
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{checkpoint}")
    tokenize = open_clip.get_tokenizer(f"local-dir:{checkpoint}")
    model.eval()
    with torch.inference_mode():
        images = model.encode_image(torch.stack([preprocess(im) for im in heldout.images]), normalize=True)
        texts = model.encode_text(tokenize(heldout.captions), normalize=True)
    return {"scenes": len(heldout.scenes), **retrieval((images @ texts.T).numpy(), heldout.captions)}
