"""A small open_clip model trained on the world's (image, sentence) pairs: the models' vision towers
and the judge-trained scorer (``scorer=judge-trained``; ASPO-S's default is ``caption_clip.py``'s).

The model is an open_clip ``CLIP`` from a custom config (a ViT over the world's images, a
text transformer over the world tokenizer), saved as an open_clip ``local-dir`` checkpoint
(``open_clip_config.json`` + ``open_clip_model.safetensors`` + the tokenizer), which
``open_clip.create_model_and_transforms("local-dir:<dir>")`` and
:meth:`aspo_repro.clip_scorer.ClipScorer.from_dir` load. The judge-trained scorer's cosine
similarity is ASPO-S's S with ``scorer=judge-trained``.

Each step takes a batch of SFT scenes with one true sentence each, and ``ClipConfig.objective``
decides what the model learns from them:

- ``contrastive``: open_clip's ``ClipLoss`` on object sentences (``A red circle is in the top
  left.``): each image picks its sentence among the batch's. This teaches which objects an image
  holds, and nothing about the count and relation sentences that ASPO weights too;
- ``judged``: any sentence of the scene's description (count, object or relation, drawn by
  ``form_weights``), each with *hard negatives*, copies with one thing made false
  (``negatives.false_sentence``); every (image, text) pair of the batch is labelled true or false by
  the world's exact judge, and CLIP's loss is told the truth: an image picks its sentence among the
  texts false of it (a count sentence true of several images is no negative for them). The similarity
  then measures whether a sentence is true of an image on one scale for every sentence form, which is
  what ASPO-S's weight assumes of CLIP. (SigLIP's sigmoid loss on the same labels learnt the count
  sentences and next to nothing of the objects in as many steps: docs/miniworld.md.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from aspo_repro.miniworld import grammar
from aspo_repro.miniworld.config import ClipConfig
from aspo_repro.miniworld.data import image_name, read_scenes
from aspo_repro.miniworld.judge import falsity_reason
from aspo_repro.miniworld.negatives import false_sentence, true_sentences
from aspo_repro.miniworld.scene import Scene
from aspo_repro.models.architectures import IMAGE_MEAN, IMAGE_STD, ImageSpec

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


@contextlib.contextmanager
def _without_warnings() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def clip_tokenizer():
    """The world tokenizer with ``</s>`` appended: the text tower pools at ``</s>`` (``pool_type: eos``)."""
    from tokenizers import processors

    from aspo_repro.miniworld.tokenizer import BOS, EOS, build_tokenizer

    tokenizer = build_tokenizer(with_image_in_template=False)
    bos, eos = tokenizer.convert_tokens_to_ids(BOS), tokenizer.convert_tokens_to_ids(EOS)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", pair=f"{BOS} $A $B {EOS}", special_tokens=[(BOS, bos), (EOS, eos)])
    return tokenizer


def open_clip_config(config: ClipConfig, image: ImageSpec, tokenizer) -> dict:
    model_cfg = {
        "embed_dim": config.embed_dim,
        "vision_cfg": {
            "image_size": image.image_size, "patch_size": config.patch_size or image.patch_size,
            "width": config.vision.hidden,
            "layers": config.vision.layers, "head_width": config.vision.hidden // config.vision.heads,
            "mlp_ratio": config.vision.intermediate / config.vision.hidden, "no_ln_pre": config.no_ln_pre,
        },
        "text_cfg": {
            "context_length": config.context_length, "vocab_size": len(tokenizer),
            "hf_tokenizer_name": "aspo-miniworld", "width": config.text.hidden, "heads": config.text.heads,
            "layers": config.text.layers, "mlp_ratio": config.text.intermediate / config.text.hidden,
            "pad_id": tokenizer.pad_token_id, "eos_id": tokenizer.eos_token_id, "pool_type": "eos",
        },
    }
    preprocess_cfg = {"size": image.image_size, "mean": list(IMAGE_MEAN), "std": list(IMAGE_STD),
                      "interpolation": "bicubic", "resize_mode": "shortest"}
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}


@dataclass(frozen=True)
class ClipText:
    """The training text: unique sentences (tokenised once) with what each claims, and per scene
    its choices as (true sentence, hard negative or None) rows of that list."""

    sentences: list[str]
    claims: list  # grammar.Claim of each sentence
    choices: list[list[tuple[int, tuple[int, ...]]]]  # per scene: (true sentence, its hard negatives)


def training_text(scenes: list[Scene], config: ClipConfig, seed: int) -> ClipText:
    rng = random.Random(f"aspo-miniworld-clip-text:{seed}")
    rows: dict[str, int] = {}
    choices = []
    for scene in scenes:
        if config.objective == "contrastive":
            pairs = [(grammar.object_sentence(obj), []) for obj in scene.objects]
        else:
            pairs = [(s, list(dict.fromkeys(false_sentence(s, scene, rng) for _ in range(config.negatives))))
                     for s in true_sentences(scene, rng)]
        choices.append([(rows.setdefault(true, len(rows)), tuple(rows.setdefault(f, len(rows)) for f in false))
                        for true, false in pairs])
    sentences = list(rows)
    return ClipText(sentences, [grammar.parse_sentence(s) for s in sentences], choices)


def train_clip(data_dir: Path, out_dir: Path, config: ClipConfig, image: ImageSpec, seed: int,
               progress: bool = True, position: int = 0, replicate: int = 0) -> dict:
    """Train the mini CLIP on the SFT scenes of ``data_dir`` and save it into ``out_dir``."""
    from aspo_repro.miniworld.sft import single_thread

    with single_thread():
        return _train_clip(data_dir, out_dir, config, image, seed, progress, position, replicate)


def _train_clip(data_dir: Path, out_dir: Path, config: ClipConfig, image: ImageSpec, seed: int,
                progress: bool, position: int, replicate: int = 0) -> dict:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from aspo_repro.miniworld.sft import load_images, perturb

    tokenizer = clip_tokenizer()
    tokenizer.save_pretrained(out_dir)
    (out_dir / CONFIG_FILE).write_text(json.dumps(open_clip_config(config, image, tokenizer), indent=2) + "\n")
    torch.manual_seed(seed)
    with _without_warnings():  # open_clip warns that the new model has no weights yet
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out_dir}", output_dict=True)
    perturb(model, replicate, seed)
    text_tokenizer = open_clip.get_tokenizer(f"local-dir:{out_dir}")
    scenes = read_scenes(data_dir, "sft")
    text = training_text(scenes, config, seed)
    images = load_images(data_dir / "images", [image_name(scene) for scene in scenes])
    pixels = torch.stack([preprocess(im) for im in images])
    losses = _fit(model, pixels, scenes, text, text_tokenizer(text.sentences), config, seed, progress, position)
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    return {"scenes": len(scenes), "sentences": len(text.sentences), "objective": config.objective, "seed": seed,
            "losses": losses, "parameters": sum(p.numel() for p in model.parameters())}


def _fit(model, pixels, scenes: list[Scene], text: ClipText, tokens, config: ClipConfig, seed: int,
         progress: bool, position: int = 0) -> list[float]:
    """Training steps; a batch holds distinct scenes, each with one of its (true, false) sentence pairs."""
    import open_clip

    rng = random.Random(f"aspo-miniworld-clip:{seed}")
    contrastive = open_clip.ClipLoss()

    def batch_loss(batch: list[int]):
        picked = [pick_sentence(text, i, config, rng) for i in batch]
        rows = [true for true, _ in picked] + [row for _, false in picked for row in false]
        out = model(pixels[batch], tokens[rows])
        if config.objective == "contrastive":
            return contrastive(out["image_features"], out["text_features"], out["logit_scale"])
        labels = judged_labels([scenes[i] for i in batch], [text.claims[r] for r in rows])
        return judged_contrastive_loss(out["image_features"], out["text_features"], out["logit_scale"], labels)

    desc = "train eva-clip" if config.no_ln_pre else "train clip"
    return fit_steps(model, len(scenes), config, rng, batch_loss, desc, progress, position)


def fit_steps(model, items: int, config, rng: random.Random, batch_loss: Callable[[list[int]], Any], desc: str,
              progress: bool, position: int = 0) -> list[float]:
    """The loop every CLIP of the world trains with: AdamW, warm-up then cosine decay over ``config.steps``,
    each batch ``config.batch_size`` distinct items of ``items`` drawn by ``rng`` (reshuffled when too
    few are left), ``batch_loss(batch)`` its loss; the losses, rounded."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    model.train()
    order: list[int] = []
    losses = []
    for _ in tqdm(range(config.steps), desc=desc, disable=not progress, leave=False, position=position):
        if len(order) < config.batch_size:
            order = list(range(items))
            rng.shuffle(order)
        batch, order = order[: config.batch_size], order[config.batch_size:]
        loss = batch_loss(batch)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 5))
    model.eval()
    return losses


def pick_sentence(text: ClipText, scene: int, config: ClipConfig, rng: random.Random) -> tuple[int, tuple[int, ...]]:
    """One of a scene's (true sentence, hard negatives), its form drawn by ``config.form_weights``."""
    choices = text.choices[scene]
    if config.objective == "contrastive":
        return rng.choice(choices)
    forms = {}
    for choice in choices:
        forms.setdefault(text.claims[choice[0]].kind, []).append(choice)
    kinds = sorted(forms)
    weights = [config.form_weights.get(kind, 0.0) for kind in kinds]
    kind = rng.choices(kinds, weights=weights)[0] if sum(weights) > 0 else rng.choice(kinds)
    return rng.choice(forms[kind])


def judged_labels(scenes: list[Scene], claims: list):
    """(scenes, texts) tensor: +1 where the judge finds the text true of the scene, else -1."""
    import torch

    return torch.tensor([[1.0 if falsity_reason(claim, scene) is None else -1.0 for claim in claims]
                         for scene in scenes])


def judged_contrastive_loss(image_features, text_features, logit_scale, labels):
    """CLIP's loss, told the truth: image i picks its true sentence (text i) among all the batch's texts
    the judge finds false of it (other true texts, such as a shared count sentence, are left out), and
    text i picks image i among the images it is false of. ``labels`` is ``judged_labels``'s (B, N)."""
    import torch
    import torch.nn.functional as F

    batch = image_features.shape[0]
    logits = logit_scale * image_features @ text_features.T  # (B, N)
    own = torch.zeros_like(labels, dtype=torch.bool)
    own[:, :batch] = torch.eye(batch, dtype=torch.bool)
    excluded = (labels > 0) & ~own  # true of the image, yet not its target
    targets = torch.arange(batch, device=logits.device)
    image_loss = F.cross_entropy(logits.masked_fill(excluded, float("-inf")), targets)
    text_logits = logits[:, :batch].T.masked_fill(excluded[:, :batch].T, float("-inf"))
    return (image_loss + F.cross_entropy(text_logits, targets)) / 2
