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
  ``captions_first``: steps on the descriptions with the language model frozen first (``captions_first``).
  Each is evaluated on the mini benchmarks. ``--variant world={}`` retrains the world's own recipe:
  its scores must equal the world's model's.

    python scripts/experiments/instructblip_position.py --out /tmp/ib --variant world={} \\
        --variant q32='{"num_query_tokens": 32}' --variant qformer128='{"qformer": [128, 2, 4, 256]}' \\
        --variant lr15='{"learning_rate": 1.5e-3}' --variant vision='{"train_vision": true}' \\
        --variant qinit='{"query_init": 0.02}' --variant aligned300='{"aligned": true, "budget": 3.0}' \\
        --variant contrastive='{"tower_objective": "contrastive"}' --variant second_last='{"second_last": true}' \\
        --variant captions1000='{"captions_first": 1000}'
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from aspo_repro.miniworld.build import build_world
from aspo_repro.repository import in_repository

FAMILY = "mini-instructblip"
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
def queries_aligned(images_dir: Path | None, strength: float = 30.0):
    """After the vision tower is put in, point query i of the first cross-attention's first head at patch
    i: its keys read the frozen tower's per-patch mean feature (centred over the patches, from 200 SFT
    images), each patch's to one axis, and query token i is that axis (an experiment: a stand-in for
    the pretraining that lets a real Q-Former find where things are)."""
    from aspo_repro.models import vision_init

    loaded = vision_init.load_vision_tower

    def aligned(model, family, visual_state, freeze=True):
        import torch
        from PIL import Image
        from transformers import BlipImageProcessor

        loaded(model, family, visual_state, freeze=freeze)
        paths = sorted(images_dir.glob("sft-*.png"))[:200]
        size = model.config.vision_config.image_size
        pixels = BlipImageProcessor(size={"height": size, "width": size})(
            [Image.open(p).convert("RGB") for p in paths], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            features = model.vision_model(pixel_values=pixels).last_hidden_state[:, 1:, :].mean(0)
            codes = features - features.mean(0)  # (patches, width)
            patches, width = codes.shape
            hidden = model.config.qformer_config.hidden_size
            axes = torch.eye(hidden)[:patches]  # patch j -> axis j (the first head's dimensions)
            cross = model.qformer.encoder.layer[0].crossattention.attention
            cross.key.weight.mul_(0.1).add_(3.0 * axes.T @ torch.linalg.pinv(codes.T))
            cross.key.bias.zero_()
            cross.query.weight.mul_(0.1).add_(strength / 3.0 / hidden ** 0.5 * torch.eye(hidden))
            model.query_tokens.copy_(axes.unsqueeze(0))

    if images_dir is not None:
        vision_init.load_vision_tower = aligned
    try:
        yield
    finally:
        vision_init.load_vision_tower = loaded


def own_tower(world, objective: str, out: Path) -> Path:
    """The world's ``eva-clip`` retrained with another objective (``contrastive``: as the LLaVAs' ``clip``,
    object sentences; ``judged``: the world's own), kept in ``out``."""
    from aspo_repro.miniworld.clip_train import train_clip

    config = dataclasses.replace(world.config.clips["eva-clip"], objective=objective)
    directory = out / f"tower-{objective}"
    if not (directory / "done").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        train_clip(world.data_dir, directory, config, world.config.data.image, world.seed, progress=False)
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
def captions_first(steps: int):
    """Before the recipe's SFT, ``steps`` on its long answers (the descriptions, which say where every
    object is) with the language model frozen: the Q-Former and its projection learn to pass on what the
    language model needs to describe the image, as BLIP-2's generative pretraining with a frozen LLM does."""
    from aspo_repro.miniworld import sft

    trained = sft.train

    def with_captions(model, examples, pixel_bank, pad_id, config, seed, progress=True, desc="sft", position=0):
        model.language_model.requires_grad_(False)
        first = dataclasses.replace(config, grounding_steps=0, steps=steps)
        trained(model, [e for e in examples if not e.short], pixel_bank, pad_id, first, seed, progress, desc, position)
        model.language_model.requires_grad_(True)
        return trained(model, examples, pixel_bank, pad_id, config, seed, progress, desc, position)

    if steps:
        sft.train = with_captions
    try:
        yield
    finally:
        sft.train = trained


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
    model_dir = out / name / "model"
    if not (model_dir / "config.json").is_file():
        model_dir.mkdir(parents=True, exist_ok=True)
        tower = world.clip_stage_dir(recipe.vision_from)
        if "tower_objective" in change:
            tower = own_tower(world, change["tower_objective"], out)
        with vision_trained(change.get("train_vision", False)), query_tokens_drawn(change.get("query_init")), \
                queries_aligned(world.data_dir / "images" if change.get("aligned") else None), \
                last_block_dropped(change.get("second_last", False)), captions_first(change.get("captions_first", 0)):
            train_base_model(recipe, world.data_dir, tower, model_dir, world.seed, world.config.data.image,
                             progress=False)
    result = out / name / "eval.json"
    subprocess.run([sys.executable, "-m", "aspo_repro", "evaluate", "--model-dir", str(model_dir),
                    "--benchmarks", "mini", "--benchmark-dir", str(world.benchmark_dir), "--out", str(result)],
                   check=True, stdout=subprocess.DEVNULL)
    scores = json.loads(result.read_text())["scores"]
    print(json.dumps({"variant": name, "change": change, **{k: round(v["value"], 1) for k, v in scores.items()},
                      **gqa_by_type(scores, world.benchmark_dir)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the variants' models and results go")
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON: a change to the recipe")
    args = parser.parse_args()
    world = build_world(progress=False)
    committed_types(world)
    for model_name in (FAMILY, "mini-llava-s"):
        probe(world, model_name)
    for spec in args.variant:
        name, _, change = spec.partition("=")
        variant(world, name, json.loads(change or "{}"), args.out)


if __name__ == "__main__":
    main()
