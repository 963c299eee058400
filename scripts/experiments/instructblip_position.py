"""Why mini-InstructBLIP does not get better with more SFT (docs/miniworld.md, "Why mini-InstructBLIP ...").

Three measurements on the built mini world, printed as JSON lines:

- ``types``: each base model's mini-GQA by question type (colour, count, position), from the
  committed results (``results/mini/<model>/base/seed0/eval.json``; items in the benchmark's order);
- ``probe``: how often a linear probe tells each patch's cell from the frozen vision tower's
  features (last and second-to-last layer; 300 images to fit, 100 to test);
- ``variant``: mini-InstructBLIP retrained by its world's recipe with one change (``--variant
  NAME=JSON``): ``num_query_tokens``; ``qformer`` [hidden, layers, heads, intermediate];
  ``learning_rate``; ``budget``, a share of the SFT steps as ``graded.scaled_sft`` cuts them;
  ``train_vision``: true, the vision tower trained with the rest instead of frozen; ``query_init``: the
  query tokens drawn from N(0, std) as LAVIS draws them, not transformers' zeros; ``aligned``: true,
  query i of the first cross-attention made to attend to patch i from the start (``queries_aligned``);
  ``tower_objective``: the vision tower's CLIP trained with this objective (``own_tower``);
  ``second_last``: true, the tower without its CLIP's last block (``last_block_dropped``);
  ``captions_first``: steps on the descriptions with the language model frozen first (``captions_first``);
  ``no_cls``: true, the Q-Former reads the patches only, not the tower's class token (``class_token_hidden``);
  ``tower_pool``: the tower's CLIP pooled so (``own_tower``); ``matched_first``: steps of BLIP-2's
  image-text matching on the Q-Former first (``matched_first``); ``matching_only``: those steps alone, no
  SFT: the held-out matching accuracy (``matching_only``); ``located_first``: [scenes, steps, learning rate],
  the world's per-cell pretraining of the Q-Former at that size first (``located_first``), with
  ``frozen_qformer``: true, the Q-Former then left as it made it (stop 48's ``per_query``, one head shared
  by the queries, is gone with the script's own copy of the pretraining). Each other is evaluated on the mini benchmarks
  and probed as ``where_what`` probes. ``--variant world={}`` retrains the world's own recipe: its scores
  must equal the world's model's.

Since stop 49 the world's recipe pretrains the Q-Former itself (``miniworld/qformer_pretraining.py``, as
``located_first`` did): a variant retrains that recipe, so ``located_first`` now adds a second pretraining.
The runs of stops 43-48 in docs/miniworld.md were made on worlds without it.

``--where-what`` instead probes what the world's three models' language models get (``where_what``):
whether the image tokens in order tell what is in each of the nine cells, and for InstructBLIP the share
of its Q-Former's cross-attention on the tower's class token.

    python scripts/experiments/instructblip_position.py --out /tmp/ib --variant world={} \\
        --variant q32='{"num_query_tokens": 32}' --variant qformer128='{"qformer": [128, 2, 4, 256]}' \\
        --variant lr15='{"learning_rate": 1.5e-3}' --variant vision='{"train_vision": true}' \\
        --variant qinit='{"query_init": 0.02}' --variant aligned300='{"aligned": true, "budget": 3.0}' \\
        --variant contrastive='{"tower_objective": "contrastive"}' --variant second_last='{"second_last": true}' \\
        --variant captions1000='{"captions_first": 1000}' --variant nocls='{"no_cls": true}' \\
        --variant itm3000='{"matched_first": 3000}' --variant m_l4='{"matching_only": 3000, "qformer": [64, 4, 2, 128]}' \\
        --variant located300='{"located_first": [20000, 8000, 1e-3], "budget": 3.0}'
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from aspo_repro.miniworld.build import build_world
from aspo_repro.repository import in_repository

FAMILY = "mini-instructblip"
INSTRUCTION = "Describe the image in detail."  # what InstructBLIP's Q-Former is asked when its tokens are probed
TYPE_MODELS = ("mini-instructblip-sft30", "mini-instructblip", "mini-instructblip-sft300",
               "mini-llava-s-sft30", "mini-llava-s", "mini-llava-s-sft300")


def gqa_by_type(scores: dict, benchmark_dir: Path) -> dict[str, int]:
    questions = [json.loads(line) for line in (benchmark_dir / "mini_gqa.jsonl").read_text().splitlines()]
    verdicts = scores["mini_gqa"]["items"]["mini_gqa"].split()
    by_type = collections.defaultdict(list)
    for question, verdict in zip(questions, verdicts, strict=True):
        by_type[question["type"]].append(verdict == "1/1")
    return {kind: round(100 * sum(right) / len(right)) for kind, right in sorted(by_type.items())}


def committed_types(world) -> None:
    for model in TYPE_MODELS:
        scores = json.loads(in_repository(f"results/mini/{model}/base/seed0/eval.json").read_text())["scores"]
        print(json.dumps({"types": model, "mini_gqa": round(scores["mini_gqa"]["value"], 1),
                          **gqa_by_type(scores, world.benchmark_dir)}), flush=True)


def probe(world, model_name: str) -> None:
    import numpy as np
    import torch
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForImageTextToText, AutoProcessor

    directory = world.model_dir(model_name)
    processor = AutoProcessor.from_pretrained(directory)
    model = AutoModelForImageTextToText.from_pretrained(directory).eval()
    images = sorted((world.data_dir / "images").glob("sft-*.png"))[:400]
    pixels = processor.image_processor([Image.open(p).convert("RGB") for p in images], return_tensors="pt")
    tower = model.vision_model if hasattr(model, "vision_model") else model.model.vision_tower
    with torch.no_grad():
        hidden = tower(pixel_values=pixels["pixel_values"], output_hidden_states=True).hidden_states
    for layer in (-1, -2):
        patches = hidden[layer][:, 1:, :]  # without the class token
        count, cells, width = patches.shape
        features, cell = patches.reshape(count * cells, width).numpy(), np.tile(np.arange(cells), count)
        split = 300 * cells
        fitted = LogisticRegression(max_iter=2000).fit(features[:split], cell[:split])
        print(json.dumps({"probe": model_name, "layer": layer,
                          "accuracy": round(fitted.score(features[split:], cell[split:]), 3)}), flush=True)


def scenes_of(world, split: str) -> dict[str, list]:
    """Each scene of ``split`` as its nine cells' shapes (row by row; ``""`` where a cell is empty)."""
    from aspo_repro.miniworld.lexicon import CELLS

    cells = {}
    for line in (world.data_dir / "scenes.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split:
            at = {(o["row"], o["column"]): o["shape"] for o in row["objects"]}
            cells[row["id"]] = [at.get(cell, "") for cell in CELLS]
    return cells


def language_model_inputs(model, processor, images):
    """What the language model gets for each image: LLaVA's projected patches, InstructBLIP's projected
    query outputs (its Q-Former asked to describe the image); (images, tokens, width)."""
    import torch

    with torch.no_grad():
        if hasattr(model, "qformer"):
            encoded = processor(images=images, text=[INSTRUCTION] * len(images),
                                return_tensors="pt")
            features = model.get_image_features(encoded["pixel_values"], encoded["qformer_input_ids"],
                                                encoded["qformer_attention_mask"])
            return features.pooler_output if hasattr(features, "pooler_output") else features[0]
        pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
        config = model.config
        features = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=config.vision_feature_layer,
                                                  vision_feature_select_strategy=config.vision_feature_select_strategy)
        return torch.stack(list(features.pooler_output))


def class_token_share(model, processor, images) -> float | None:
    """The share of the Q-Former's cross-attention (every layer that has one, every head and query) on the
    vision tower's class token; None where the tokens it reads have none (``class_token_hidden``)."""
    import torch

    encoded = processor(images=images, text=[INSTRUCTION] * len(images), return_tensors="pt")
    with torch.no_grad():
        seen = model.vision_model(pixel_values=encoded["pixel_values"]).last_hidden_state
        if seen.shape[1] == model.config.vision_config.image_size ** 2 // model.config.vision_config.patch_size ** 2:
            return None
        queries = model.query_tokens.expand(len(images), -1, -1)
        mask = torch.cat([torch.ones(queries.shape[:2], dtype=torch.long), encoded["qformer_attention_mask"]], 1)
        attention = model.qformer(input_ids=encoded["qformer_input_ids"], attention_mask=mask, query_embeds=queries,
                                  encoder_hidden_states=seen, output_attentions=True).cross_attentions
    return round(float(torch.stack([a[..., 0].mean() for a in attention if a is not None]).mean()), 3)


def where_what(world, model_name: str, fit: int = 1800, test: int = 600, directory: Path | None = None) -> None:
    """How well a probe reads what is in each of the nine cells from what the language model gets (the
    image tokens in order, flattened): logistic regression per cell, the shape there or empty (its
    "majority": always saying the most common, empty)."""
    import numpy as np
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from transformers import AutoModelForImageTextToText, AutoProcessor

    directory = directory or world.model_dir(model_name)
    processor = AutoProcessor.from_pretrained(directory)
    model = AutoModelForImageTextToText.from_pretrained(directory, attn_implementation="eager").eval()
    cells = scenes_of(world, "sft")
    ids = sorted(cells)[:fit + test]
    images = [Image.open(world.data_dir / "images" / f"{i}.png").convert("RGB") for i in ids]
    tokens = np.concatenate([language_model_inputs(model, processor, images[s:s + 200]).float().numpy()
                             for s in range(0, len(images), 200)])
    labels = np.array([cells[i] for i in ids])
    if hasattr(model, "qformer"):
        print(json.dumps({"where_what": model_name, "class_token_share": class_token_share(model, processor,
                                                                                            images[:200])}))
    for view, features in (("in order", tokens.reshape(len(ids), -1)),):
        right, majority = [], []
        for cell in range(labels.shape[1]):
            y = labels[:, cell]
            fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1)).fit(features[:fit], y[:fit])
            right.append(fitted.score(features[fit:], y[fit:]))
            majority.append(max(np.mean(y[fit:] == v) for v in set(y[fit:])))
        print(json.dumps({"where_what": model_name, "tokens": tokens.shape[1], "view": view,
                          "accuracy": round(float(np.mean(right)), 3),
                          "majority": round(float(np.mean(majority)), 3)}), flush=True)


@contextlib.contextmanager
def vision_trained(trained: bool):
    """SFT with the vision tower left trainable (``sft`` freezes it, as the paper's models do)."""
    from aspo_repro.models import vision_init

    frozen = vision_init.load_vision_tower

    def left_trainable(model, family, visual_state, freeze=True):
        return frozen(model, family, visual_state, freeze=False)

    if trained:
        vision_init.load_vision_tower = left_trainable
    try:
        yield
    finally:
        vision_init.load_vision_tower = frozen


@contextlib.contextmanager
def query_tokens_drawn(std: float | None):
    """Build with the Q-Former's query tokens drawn from N(0, std), as LAVIS's ``init_Qformer`` draws
    them, instead of transformers' zeros (meant for loading pretrained weights)."""
    from aspo_repro.models import builders

    built = builders.build_model_and_processor

    def drawn(family, size=None, *, image, seed=0):
        import torch

        model, processor = built(family, size, image=image, seed=seed)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            model.query_tokens.copy_(torch.randn(model.query_tokens.shape, generator=generator) * std)
        return model, processor

    if std is not None:
        builders.build_model_and_processor = drawn
    try:
        yield
    finally:
        builders.build_model_and_processor = built


@contextlib.contextmanager
def queries_aligned(world, aligned: bool, strength: float = 30.0):
    """After the vision tower is put in, point query i of the first cross-attention's first head at patch
    i: its keys read the frozen tower's per-patch mean feature (centred over the patches, from 200 SFT
    images), each patch's to one axis, and query token i is that axis (an experiment: a stand-in for
    the pretraining that lets a real Q-Former find where things are)."""
    from aspo_repro.models import vision_init

    loaded = vision_init.load_vision_tower

    def aligning(model, family, visual_state, freeze=True):
        import torch
        from PIL import Image

        loaded(model, family, visual_state, freeze=freeze)
        paths = sorted((world.data_dir / "images").glob("sft-*.png"))[:200]
        size = model.config.vision_config.image_size
        pixels = world_pixels(world)([Image.open(p).convert("RGB") for p in paths])
        with torch.no_grad():
            seen = model.vision_model(pixel_values=pixels).last_hidden_state
            patches = (size // model.config.vision_config.patch_size) ** 2
            features = seen[:, -patches:, :].mean(0)  # without the class token, where it is still there
            codes = features - features.mean(0)  # (patches, width)
            patches, width = codes.shape
            hidden = model.config.qformer_config.hidden_size
            axes = torch.eye(hidden)[:patches]  # patch j -> axis j (the first head's dimensions)
            cross = model.qformer.encoder.layer[0].crossattention.attention
            cross.key.weight.mul_(0.1).add_(3.0 * axes.T @ torch.linalg.pinv(codes.T))
            cross.key.bias.zero_()
            cross.query.weight.mul_(0.1).add_(strength / 3.0 / hidden ** 0.5 * torch.eye(hidden))
            model.query_tokens.copy_(axes.unsqueeze(0))

    if aligned:
        vision_init.load_vision_tower = aligning
    try:
        yield
    finally:
        vision_init.load_vision_tower = loaded


def own_tower(world, objective: str, out: Path, pool: str = "tok") -> Path:
    """The world's ``eva-clip`` retrained with another objective (``contrastive``: as the LLaVAs' ``clip``,
    object sentences; ``judged``: the world's own) or pooling (open_clip's ``pool_type``: ``tok``, the
    class token, as the world's; ``avg``, the patches' mean), kept in ``out``."""
    from aspo_repro.miniworld import clip_train

    config = dataclasses.replace(world.config.clips["eva-clip"], objective=objective)
    directory = out / f"tower-{objective}" if pool == "tok" else out / f"tower-{objective}-{pool}"
    configured = clip_train.open_clip_config

    def pooled(*args, **kwargs):
        built = configured(*args, **kwargs)
        built["model_cfg"]["vision_cfg"]["pool_type"] = pool
        return built

    if not (directory / "done").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        clip_train.open_clip_config = pooled
        try:
            clip_train.train_clip(world.data_dir, directory, config, world.config.data.image, world.seed,
                                  progress=False)
        finally:
            clip_train.open_clip_config = configured
        (directory / "done").write_text("")
    return directory


@contextlib.contextmanager
def last_block_dropped(dropped: bool):
    """The vision tower without its CLIP's last block, as BLIP-2 takes EVA-CLIP's second-last layer's
    features (and LLaVA's ``vision_feature_layer`` -2 does): in a CLIP only the class token of the
    last block is trained, so its patch outputs are not."""
    from aspo_repro.models import vision_init

    loaded = vision_init.load_vision_tower

    def without_last(model, family, visual_state, freeze=True):
        last = max(vision_init._resblock_indices(visual_state))
        kept = {k: v for k, v in visual_state.items() if not k.startswith(f"transformer.resblocks.{last}.")}
        loaded(model, family, kept, freeze=freeze)

    if dropped:
        vision_init.load_vision_tower = without_last
    try:
        yield
    finally:
        vision_init.load_vision_tower = loaded


@contextlib.contextmanager
def before_sft(first):
    """The recipe's SFT after ``first(model, examples, pixel_bank, pad_id, config, seed, train)`` on the same
    model (``train``: ``sft.train`` itself); None: the SFT as it is."""
    from aspo_repro.miniworld import sft

    trained = sft.train

    def preceded(model, examples, pixel_bank, pad_id, config, seed, progress=True, desc="sft", position=0):
        first(model, examples, pixel_bank, pad_id, config, seed, trained)
        return trained(model, examples, pixel_bank, pad_id, config, seed, progress, desc, position)

    if first is not None:
        sft.train = preceded
    try:
        yield
    finally:
        sft.train = trained


@contextlib.contextmanager
def captions_first(steps: int):
    """Before the recipe's SFT, ``steps`` on its long answers (the descriptions, which say where every
    object is) with the language model frozen: the Q-Former and its projection learn to pass on what the
    language model needs to describe the image, as BLIP-2's generative pretraining with a frozen LLM does."""

    def captions(model, examples, pixel_bank, pad_id, config, seed, train):
        model.language_model.requires_grad_(False)
        first = dataclasses.replace(config, grounding_steps=0, steps=steps)
        train(model, [e for e in examples if not e.short], pixel_bank, pad_id, first, seed, progress=False)
        model.language_model.requires_grad_(True)

    with before_sft(captions if steps else None):
        yield


@contextlib.contextmanager
def class_token_hidden(hidden: bool):
    """The Q-Former's cross-attention reads the patches only, not the vision tower's class token (LLaVA's
    language model gets the patches only: ``vision_feature_select_strategy`` "default"). In the world's
    model every query reads the class token alone (``cross_attention``). transformers' InstructBLIP has no
    setting for it: its vision model's output is cut here, in training and in evaluation alike."""
    from transformers.models.instructblip import modeling_instructblip

    vision = modeling_instructblip.InstructBlipVisionModel
    forward = vision.forward

    def patches_only(self, *args, **kwargs):
        output = forward(self, *args, **kwargs)
        output.last_hidden_state = output.last_hidden_state[:, 1:, :]
        return output

    if hidden:
        vision.forward = patches_only
    try:
        yield
    finally:
        vision.forward = forward


def matching_batch(scenes: list, rng, size: int) -> tuple[list[int], list[str], list[int]]:
    """BLIP-2's image-text matching on object sentences: for ``size`` images, one of its objects' sentence
    (label 1) or, half the time, that sentence made false (label 0, ``moved_or_recoloured``)."""
    from aspo_repro.miniworld import grammar

    rows, texts, labels = rng.sample(range(len(scenes)), size), [], []
    for row in rows:
        scene = scenes[row]
        obj = rng.choice(scene.objects)
        label = int(rng.random() < 0.5)
        texts.append(grammar.object_sentence(obj if label else moved_or_recoloured(obj, scene, rng)))
        labels.append(label)
    return rows, texts, labels


def moved_or_recoloured(obj, scene, rng):
    """``obj`` put in an empty cell of ``scene`` three times in four (where one is empty), else given
    another colour."""
    from aspo_repro.miniworld import lexicon

    empty = [cell for cell in lexicon.CELLS if scene.at(*cell) is None]
    if empty and rng.random() < 0.75:
        row, column = rng.choice(empty)
        return dataclasses.replace(obj, row=row, column=column)
    return dataclasses.replace(obj, colour=rng.choice([c for c in lexicon.COLOURS if c != obj.colour]))


def match_images(model, tokenizer, pixel_bank, scenes: list, steps: int, seed: int) -> dict:
    """Train the Q-Former and its query tokens on image-text matching (``matching_batch``; a linear head on
    each query's output, the logits averaged over the queries, as BLIP-2's ITM), the rest frozen; the last
    tenth of the images held out. Returns the held-out accuracy on position swaps and on all."""
    import random

    import torch

    rng, held = random.Random(f"itm:{seed}"), len(scenes) // 10
    torch.manual_seed(seed)
    head = torch.nn.Linear(model.config.qformer_config.hidden_size, 2)
    trained = [model.query_tokens, *model.qformer.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(trained, lr=5e-4, betas=(0.9, 0.98), weight_decay=0.05)

    def logits(rows, texts):
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        seen = model.vision_model(pixel_values=pixel_bank[rows]).last_hidden_state
        queries = model.query_tokens.expand(len(rows), -1, -1)
        mask = torch.cat([torch.ones(queries.shape[:2], dtype=torch.long), encoded["attention_mask"]], 1)
        out = model.qformer(input_ids=encoded["input_ids"], attention_mask=mask, query_embeds=queries,
                            encoder_hidden_states=seen).last_hidden_state
        return head(out[:, :queries.shape[1]]).mean(1)

    model.train()
    for _ in range(steps):
        rows, texts, labels = matching_batch(scenes[held:], rng, 64)
        loss = torch.nn.functional.cross_entropy(logits([held + r for r in rows], texts), torch.tensor(labels))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        rows, texts, labels = matching_batch(scenes[:held], random.Random(f"itm-test:{seed}"), held)
        right = (logits(rows, texts).argmax(-1) == torch.tensor(labels)).tolist()
    return {"itm_accuracy": round(sum(right) / len(right), 3)}


@contextlib.contextmanager
def matched_first(world, steps: int):
    """Before the recipe's SFT, ``steps`` of image-text matching (``match_images``), as BLIP-2's first
    stage trains its Q-Former (its contrastive and captioning losses left out)."""
    from aspo_repro.miniworld.data import read_scenes
    from aspo_repro.models import builders

    built, kept = builders.build_model_and_processor, {}

    def keeping(*args, **kwargs):
        kept["model"], kept["processor"] = built(*args, **kwargs)
        return kept["model"], kept["processor"]

    def matching(model, examples, pixel_bank, pad_id, config, seed, train):
        items = json.loads(world.sft_json.read_text())
        names = sorted({item["image"] for item in items})
        by_id = {scene.id: scene for scene in read_scenes(world.data_dir, "sft")}
        scenes = [by_id[Path(name).stem] for name in names]
        print(json.dumps({"matched_first": steps, **match_images(model, kept["processor"].qformer_tokenizer,
                                                                  pixel_bank, scenes, steps, seed)}), flush=True)

    if steps:
        builders.build_model_and_processor = keeping
    try:
        with before_sft(matching if steps else None):
            yield
    finally:
        builders.build_model_and_processor = built


def world_processor(world):
    """The processor saved with the world's mini-InstructBLIP (its image processor has the world's mean and
    std, not BlipImageProcessor's defaults)."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(world.model_dir(FAMILY))


def world_pixels(world):
    """What turns images into the tower's pixels as the world's mini-InstructBLIP gets them."""
    image_processor = world_processor(world).image_processor
    return lambda images: image_processor(images, return_tensors="pt")["pixel_values"]


@contextlib.contextmanager
def located_first(world, scenes: int, steps: int, lr: float = 5e-4, frozen: bool = False):
    """Before the recipe's SFT, the world's own Q-Former pretraining (``qformer_pretraining.pretrain_qformer``)
    at this size: ``steps`` of the per-cell objective on ``scenes`` freshly rendered scenes (a split of their
    own: none is an SFT, pool or benchmark scene); ``frozen``: the Q-Former and its query tokens then left as
    that made them (the SFT trains the projection and the language model), as the tower is."""
    from aspo_repro.miniworld.config import QformerPretraining
    from aspo_repro.miniworld.qformer_pretraining import pretrain_qformer

    def cells(model, examples, pixel_bank, pad_id, config, seed, train):
        started = time.monotonic()
        record = pretrain_qformer(model, world_processor(world), QformerPretraining(scenes, steps, learning_rate=lr),
                                  world.config.data, world.seed, seed, progress=False)
        print(json.dumps({"located_first": [scenes, steps, lr], "located_cells": record["held_out"],
                          "empty": record["always_empty"], "seconds": round(time.monotonic() - started)}),
              flush=True)
        if frozen:
            model.qformer.requires_grad_(False)
            model.query_tokens.requires_grad_(False)

    with before_sft(cells if steps else None):
        yield


def matching_only(world, recipe, steps: int, seed: int = 0) -> dict:
    """Image-text matching alone (``match_images``) on a fresh model of ``recipe`` with its vision tower,
    its query tokens drawn from N(0, 0.02) as LAVIS draws them (transformers builds them as zeros, and
    without a language model after them nothing would tell the queries apart): whether its Q-Former can
    tell an object's sentence from the same with the object moved at all."""
    import torch

    from aspo_repro.miniworld.data import read_scenes
    from aspo_repro.miniworld.sft import load_images, pretrained_vision, single_thread
    from aspo_repro.models.builders import build_model_and_processor
    from aspo_repro.models.families import get_family
    from aspo_repro.models.vision_init import load_vision_tower

    model, processor = build_model_and_processor(recipe.family, recipe.size, image=world.config.data.image, seed=seed)
    with torch.no_grad():  # as LAVIS draws them: transformers' zeros would leave every query the same
        model.query_tokens.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(seed))
    load_vision_tower(model, get_family(recipe.family), pretrained_vision(world.clip_stage_dir(recipe.vision_from)))
    scenes = read_scenes(world.data_dir, "sft")
    images = load_images(world.data_dir / "images", [f"{scene.id}.png" for scene in scenes])
    pixel_bank = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    with single_thread():  # as the world's builds: two such processes side by side do not contend
        return match_images(model, processor.qformer_tokenizer, pixel_bank, scenes, steps, seed)


def variant(world, name: str, change: dict, out: Path) -> None:
    from aspo_repro.miniworld.graded import scaled_sft
    from aspo_repro.miniworld.sft import train_base_model
    from aspo_repro.models.architectures import TowerSize

    recipe = world.config.recipe(FAMILY)
    size, sft = recipe.size, recipe.sft
    if "num_query_tokens" in change:
        size = dataclasses.replace(size, num_query_tokens=change["num_query_tokens"])
    if "qformer" in change:
        size = dataclasses.replace(size, qformer=TowerSize(*change["qformer"]))
    if "budget" in change:
        sft = scaled_sft(sft, change["budget"])
    if "learning_rate" in change:
        sft = dataclasses.replace(sft, learning_rate=change["learning_rate"])
    if change.get("second_last"):
        size = dataclasses.replace(size, vision=dataclasses.replace(size.vision, layers=size.vision.layers - 1))
    recipe = dataclasses.replace(recipe, size=size, sft=sft)
    if change.get("matching_only"):
        print(json.dumps({"variant": name, "change": change, **matching_only(world, recipe, change["matching_only"])}),
              flush=True)
        return
    model_dir = out / name / "model"
    if not (model_dir / "config.json").is_file():
        model_dir.mkdir(parents=True, exist_ok=True)
        tower = world.clip_stage_dir(recipe.vision_from)
        if "tower_objective" in change or "tower_pool" in change:
            tower = own_tower(world, change.get("tower_objective", "judged"), out, change.get("tower_pool", "tok"))
        with vision_trained(change.get("train_vision", False)), query_tokens_drawn(change.get("query_init")), \
                queries_aligned(world, change.get("aligned", False)), \
                last_block_dropped(change.get("second_last", False)), captions_first(change.get("captions_first", 0)), \
                class_token_hidden(change.get("no_cls", False)), matched_first(world, change.get("matched_first", 0)), \
                located_first(world, *change.get("located_first", [0, 0]), frozen=change.get("frozen_qformer", False)):
            train_base_model(recipe, world.data_dir, tower, model_dir, world.seed, world.config.data,
                             progress=False)
    result = out / name / "eval.json"
    evaluation = ["evaluate", "--model-dir", str(model_dir), "--benchmarks", "mini",
                  "--benchmark-dir", str(world.benchmark_dir), "--out", str(result)]
    if change.get("no_cls"):  # the change lives in this process: evaluate here
        from aspo_repro.cli import main as cli_main

        with class_token_hidden(True), contextlib.redirect_stdout(sys.stderr):
            assert cli_main(evaluation) == 0
    else:
        subprocess.run([sys.executable, "-m", "aspo_repro", *evaluation], check=True, stdout=subprocess.DEVNULL)
    scores = json.loads(result.read_text())["scores"]
    with class_token_hidden(change.get("no_cls", False)):
        where_what(world, name, directory=model_dir)
    print(json.dumps({"variant": name, "change": change, **{k: round(v["value"], 1) for k, v in scores.items()},
                      **gqa_by_type(scores, world.benchmark_dir)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the variants' models and results go")
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON: a change to the recipe")
    parser.add_argument("--where-what", action="store_true",
                        help="only probe what the world's models' language models get (where_what)")
    args = parser.parse_args()
    world = build_world(progress=False)
    variants = [(name, json.loads(change or "{}")) for name, _, change in (spec.partition("=") for spec in args.variant)]
    if variants and all(change.get("matching_only") for _, change in variants):  # no model trained: no probes
        for name, change in variants:
            variant(world, name, change, args.out)
        return
    if args.where_what:
        for model_name in (FAMILY, "mini-llava-s", "mini-llava-m"):
            where_what(world, model_name)
        return
    committed_types(world)
    for model_name in (FAMILY, "mini-llava-s"):
        probe(world, model_name)
    for name, change in variants:
        variant(world, name, change, args.out)


if __name__ == "__main__":
    main()
