"""A stand-in of the paper's CLIP scorer (open_clip ``ViT-L-14-336``, OpenAI weights): the same
architecture config, shrunk in depth and width, random weights, OpenAI CLIP's tokenizer (open_clip's
own BPE, shipped with the package) and preprocessing, saved as an open_clip ``local-dir`` checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aspo_repro import storage
from aspo_repro.clip_scorer import PAPER_MODEL
from aspo_repro.rehearsal.standin_processors import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


@dataclass(frozen=True)
class ClipShrink:
    layers: int = 2
    vision_width: int = 32
    text_width: int = 32
    text_heads: int = 2
    embed_dim: int = 32


def shrunk_clip_config(shrink: ClipShrink = ClipShrink()) -> dict:
    """``open_clip_config.json`` of the stand-in: the paper CLIP's model config with smaller towers."""
    import open_clip

    model_cfg = json.loads(json.dumps(open_clip.get_model_config(PAPER_MODEL)))
    model_cfg["embed_dim"] = shrink.embed_dim
    model_cfg["vision_cfg"].update(layers=shrink.layers, width=shrink.vision_width, head_width=shrink.vision_width // 2)
    model_cfg["text_cfg"].update(layers=shrink.layers, width=shrink.text_width, heads=shrink.text_heads)
    size = model_cfg["vision_cfg"]["image_size"]
    preprocess_cfg = {"size": size, "mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD, "interpolation": "bicubic",
                      "resize_mode": "shortest"}
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}


def write_clip_standin(out_dir: Path, shrink: ClipShrink = ClipShrink(), seed: int = 0) -> Path:
    """The stand-in CLIP in ``out_dir`` (reused when complete)."""
    if (out_dir / WEIGHTS_FILE).is_file():
        return out_dir
    with storage.atomic_directory(out_dir, replace=True) as staging:
        _build(staging, shrink, seed)
    return out_dir


def _build(directory: Path, shrink: ClipShrink, seed: int) -> None:
    import open_clip
    import torch
    from safetensors.torch import save_file

    (directory / CONFIG_FILE).write_text(json.dumps(shrunk_clip_config(shrink), indent=2) + "\n")
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{directory}", load_weights=False)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(directory / WEIGHTS_FILE))
