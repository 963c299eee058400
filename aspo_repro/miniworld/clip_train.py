"""A small open_clip model trained contrastively on the world's (image, object sentence) pairs.

The model is an open_clip ``CLIP`` from a custom config (a ViT over the world's images, a
text transformer over the world tokenizer), trained with open_clip's ``ClipLoss`` on one
pair per object: the image and that object's sentence (``A large red circle is in the top
left.``). It is saved as an open_clip ``local-dir`` checkpoint (``open_clip_config.json`` +
``open_clip_model.safetensors`` + the tokenizer), which ``open_clip.create_model_and_transforms
("local-dir:<dir>")`` and :meth:`aspo_repro.clip_scorer.ClipScorer.from_dir` load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from aspo_repro.miniworld import grammar
from aspo_repro.miniworld.config import ClipConfig
from aspo_repro.miniworld.data import image_name, read_scenes
from aspo_repro.models.builders import IMAGE_MEAN, IMAGE_STD, ImageSpec

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
            "image_size": image.image_size, "patch_size": image.patch_size, "width": config.vision.hidden,
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


def training_scenes(data_dir: Path) -> list[tuple[str, list[str]]]:
    """(image file, its object sentences) for every SFT scene: each object gives one pair."""
    return [(image_name(scene), [grammar.object_sentence(obj) for obj in scene.objects])
            for scene in read_scenes(data_dir, "sft")]


def train_clip(data_dir: Path, out_dir: Path, config: ClipConfig, image: ImageSpec, seed: int,
               progress: bool = True, position: int = 0) -> dict:
    """Train the mini CLIP on the SFT scenes of ``data_dir`` and save it into ``out_dir``."""
    from aspo_repro.miniworld.sft import single_thread

    with single_thread():
        return _train_clip(data_dir, out_dir, config, image, seed, progress, position)


def _train_clip(data_dir: Path, out_dir: Path, config: ClipConfig, image: ImageSpec, seed: int,
                progress: bool, position: int) -> dict:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from aspo_repro.miniworld.sft import load_images

    tokenizer = clip_tokenizer()
    tokenizer.save_pretrained(out_dir)
    (out_dir / CONFIG_FILE).write_text(json.dumps(open_clip_config(config, image, tokenizer), indent=2) + "\n")
    torch.manual_seed(seed)
    with _without_warnings():  # open_clip warns that the new model has no weights yet
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out_dir}", output_dict=True)
    text_tokenizer = open_clip.get_tokenizer(f"local-dir:{out_dir}")
    scenes = training_scenes(data_dir)
    pixels = torch.stack([preprocess(im) for im in load_images(data_dir / "images", [name for name, _ in scenes])])
    sentences = [sentence for _, scene_sentences in scenes for sentence in scene_sentences]
    rows = {sentence: i for i, sentence in enumerate(dict.fromkeys(sentences))}
    texts = text_tokenizer(list(rows))
    choices = [[rows[s] for s in scene_sentences] for _, scene_sentences in scenes]
    losses = _fit(model, pixels, choices, texts, config, seed, progress, position)
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    return {"scenes": len(scenes), "pairs": len(sentences), "seed": seed, "losses": losses,
            "parameters": sum(p.numel() for p in model.parameters())}


def _fit(model, pixels, choices: list[list[int]], texts, config: ClipConfig, seed: int, progress: bool,
         position: int = 0) -> list[float]:
    """Contrastive steps; a batch holds distinct scenes, each with one of its object sentences."""
    import open_clip
    import torch
    from transformers import get_cosine_schedule_with_warmup

    rng = random.Random(f"aspo-miniworld-clip:{seed}")
    loss_fn = open_clip.ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    model.train()
    order: list[int] = []
    losses = []
    desc = "train eva-clip" if config.no_ln_pre else "train clip"
    for _ in tqdm(range(config.steps), desc=desc, disable=not progress, leave=False, position=position):
        if len(order) < config.batch_size:
            order = list(range(len(choices)))
            rng.shuffle(order)
        batch, order = order[: config.batch_size], order[config.batch_size:]
        text_rows = [rng.choice(choices[i]) for i in batch]
        out = model(pixels[batch], texts[text_rows])
        loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 5))
    model.eval()
    return losses
