"""ASPO-S's scorer trained as CLIP is trained: contrastive on the world's images and their own captions.

The judge-trained scorer (``clip_train.py``, objective ``judged``) learns from the exact judge's
verdicts. This one never sees a verdict or a model's output: each SFT image's caption is a random
non-empty subset, in random order, of the description the grammar writes from its scene
(``grammar.describe``), and open_clip's ``ClipLoss`` makes each image pick its caption among the
batch's and each caption its image. ``hard_negatives`` adds NegCLIP-style negatives: the caption with
two words of one kind (colours, shapes, cells) swapped, a text transformation never checked against
the scene. Settings are chosen by held-out caption retrieval (``caption_retrieval.py``; docs/scorer.md).

The scorer is an open_clip ``local-dir`` checkpoint (``ClipScorer.from_dir`` loads it), cached beside
the world, not in it: ``<cache>/caption-scorers/<world dir name>/<config key>/``, keyed by the world,
its data stage's fingerprint, the scorer's config and this module's code, so adding or changing it
never rebuilds the world.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.miniworld.config import VISION, ClipConfig
from aspo_repro.miniworld.scene import Scene
from aspo_repro.models.architectures import TowerSize

SCORERS_DIR = "caption-scorers"


@dataclass(frozen=True)
class CaptionClipConfig:
    """The caption scorer's settings; the architecture and optimiser are the judge-trained scorer's,
    but for a context long enough for a whole description. The defaults are the configuration held-out
    caption retrieval chose (docs/scorer.md: 2000 steps, no hard negatives)."""

    steps: int = 2000
    hard_negatives: bool = False
    embed_dim: int = 64
    vision: TowerSize = VISION
    text: TowerSize = TowerSize(64, 2, 2, 256)
    context_length: int = 64
    patch_size: int | None = None  # None: the world's
    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 20

    def architecture(self) -> ClipConfig:
        """The open_clip architecture as ``clip_train.open_clip_config`` takes it."""
        return ClipConfig(embed_dim=self.embed_dim, vision=self.vision, text=self.text,
                          context_length=self.context_length, patch_size=self.patch_size,
                          steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
                          warmup_steps=self.warmup_steps)

    def key(self) -> str:
        from aspo_repro.storage import stable_hash

        return stable_hash(asdict(self))[:16]


# Per world size (``config.SIZES``): the tiny world of the tests trains its caption scorer for a few
# steps, as it trains its CLIPs (``config.TINY``).
SIZE_CONFIGS = {"full": CaptionClipConfig(), "tiny": CaptionClipConfig(steps=3, batch_size=16, warmup_steps=1)}

# ----------------------------------------------------------------------------- captions

def description_sentences(scene: Scene, rng: random.Random) -> list[str]:
    """The sentences of the grammar's description of ``scene`` (its relation drawn by ``rng``)."""
    description = grammar.describe(scene, rng)
    return [sentence + "." for sentence in description[:-1].split(". ")]


def caption(scene: Scene, rng: random.Random) -> str:
    """A random non-empty subset of the scene's description sentences, in random order."""
    sentences = description_sentences(scene, rng)
    picked = rng.sample(sentences, rng.randint(1, len(sentences)))
    return " ".join(picked)


def _alternatives(words) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


# The kinds of word a NegCLIP-style negative swaps: a caption's colours, shapes, or the cells objects are in.
SWAP_KINDS = {
    "colour": re.compile(rf"\b(?:{_alternatives(lexicon.COLOURS)})\b"),
    "shape": re.compile(rf"\b(?:{_alternatives(lexicon.SHAPES)})\b"),
    "cell": re.compile(rf"(?<=is in the )(?:{_alternatives(lexicon.CELL_NAMES)})(?=\.)"),
}


def swapped_caption(text: str, rng: random.Random) -> str | None:
    """``text`` with two words of one kind and different values swapped (NegCLIP's swap), the kind and
    the two words drawn at random; None when no kind has two different values in ``text``."""
    options = {}
    for kind, pattern in SWAP_KINDS.items():
        matches = list(pattern.finditer(text))
        pairs = [(a, b) for i, a in enumerate(matches) for b in matches[i + 1:] if a.group() != b.group()]
        if pairs:
            options[kind] = pairs
    if not options:
        return None
    first, second = rng.choice(options[rng.choice(sorted(options))])
    return (text[:first.start()] + second.group() + text[first.end():second.start()] + first.group()
            + text[second.end():])


# ----------------------------------------------------------------------------- training

def train_caption_clip(data_dir: Path, out_dir: Path, config: CaptionClipConfig, image, seed: int,
                       progress: bool = True, replicate: int = 0, position: int = 0) -> dict:
    """Train the caption scorer on the SFT scenes of ``data_dir`` and save it into ``out_dir``
    (``position``: its progress bar's line)."""
    from aspo_repro.miniworld.sft import single_thread

    with single_thread():
        return _train(data_dir, out_dir, config, image, seed, progress, replicate, position)


def _train(data_dir: Path, out_dir: Path, config: CaptionClipConfig, image, seed: int, progress: bool,
           replicate: int, position: int) -> dict:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from aspo_repro.miniworld.clip_train import (
        CONFIG_FILE,
        WEIGHTS_FILE,
        _without_warnings,
        clip_tokenizer,
        open_clip_config,
    )
    from aspo_repro.miniworld.data import image_name, read_scenes
    from aspo_repro.miniworld.sft import load_images, perturb

    tokenizer = clip_tokenizer()
    tokenizer.save_pretrained(out_dir)
    (out_dir / CONFIG_FILE).write_text(
        json.dumps(open_clip_config(config.architecture(), image, tokenizer), indent=2) + "\n")
    torch.manual_seed(seed)
    with _without_warnings():  # open_clip warns that the new model has no weights yet
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out_dir}", output_dict=True)
    perturb(model, replicate, seed)
    scenes = read_scenes(data_dir, "sft")
    images = load_images(data_dir / "images", [image_name(scene) for scene in scenes])
    pixels = torch.stack([preprocess(im) for im in images])
    losses, negatives = _fit(model, pixels, scenes, open_clip.get_tokenizer(f"local-dir:{out_dir}"), config, seed,
                             progress, position)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(out_dir / WEIGHTS_FILE))
    return {"scenes": len(scenes), "seed": seed, "config": asdict(config), "hard_negatives_used": negatives,
            "losses": losses, "parameters": sum(p.numel() for p in model.parameters())}


def _fit(model, pixels, scenes: list[Scene], tokenize, config: CaptionClipConfig, seed: int,
         progress: bool, position: int) -> tuple[list[float], int]:
    """Training steps over batches of distinct scenes, each with a fresh caption (and its swap)."""
    import open_clip

    from aspo_repro.miniworld.clip_train import fit_steps

    rng = random.Random(f"aspo-caption-clip:{seed}")
    loss_fn = open_clip.ClipLoss()
    negatives_used = 0

    def batch_loss(batch: list[int]):
        nonlocal negatives_used
        captions = [caption(scenes[i], rng) for i in batch]
        negatives = [n for n in (swapped_caption(c, rng) for c in captions) if n is not None] \
            if config.hard_negatives else []
        negatives_used += len(negatives)
        out = model(pixels[batch], tokenize(captions + negatives))
        if negatives:
            return negclip_loss(out["image_features"], out["text_features"], out["logit_scale"])
        return loss_fn(out["image_features"], out["text_features"], out["logit_scale"])

    losses = fit_steps(model, len(scenes), config, rng, batch_loss, "train caption scorer", progress,
                       position)
    return losses, negatives_used


def negclip_loss(image_features, text_features, logit_scale):
    """NegCLIP's loss: the B images' captions are the first B texts, the rest hard negatives; each
    image picks its caption among all texts, each caption its image among the B images."""
    import torch
    import torch.nn.functional as F

    batch = image_features.shape[0]
    logits = logit_scale * image_features @ text_features.T  # (B, B + negatives)
    targets = torch.arange(batch, device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits[:, :batch].T, targets)) / 2


# ----------------------------------------------------------------------------- the cache beside the world

def scorer_dir(world, config: CaptionClipConfig) -> Path:
    """Where the caption scorer of ``world`` and ``config`` lives: beside the world, not in it."""
    from aspo_repro.miniworld.cache import beside_world

    return beside_world(world, SCORERS_DIR, config.key())


def scorer_inputs(world, config: CaptionClipConfig) -> dict:
    """What the cached scorer is made from: the world, its data, the config and this module's code."""
    from aspo_repro.miniworld.cache import stage_fingerprint
    from aspo_repro.storage import sha256_file

    return {"stage": "caption-scorer", "world": world.root.name, "data": stage_fingerprint(world.data_dir),
            "config": asdict(config), "code": sha256_file(Path(__file__))}


def caption_scorer_built(world, config: CaptionClipConfig | None = None) -> bool:
    """Whether ``world`` (built or not) has the caption scorer of ``config`` (None: its size's), complete
    and intact."""
    from aspo_repro.miniworld.cache import built_beside

    config = config or SIZE_CONFIGS[world.size]
    return built_beside(scorer_dir(world, config), lambda: scorer_inputs(world, config), [world.data_dir])


def ensure_caption_scorer(world, config: CaptionClipConfig | None = None, progress: bool = True,
                          position: int = 0) -> Path:
    """The caption scorer's checkpoint directory for a built ``world``, trained on first use (``config``
    None: its size's; ``position``: its progress bar's line)."""
    from aspo_repro.miniworld.cache import ensure_beside

    config = config or SIZE_CONFIGS[world.size]
    return ensure_beside(
        scorer_dir(world, config), scorer_inputs(world, config),
        lambda tmp: train_caption_clip(world.data_dir, tmp, config, world.config.data.image, world.seed,
                                       progress, world.replicate, position),
        what=f"caption scorer {config.key()}", progress=progress)
