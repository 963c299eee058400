"""The world's data files: scenes, images, instruction data and benchmark files.

Layout of a data directory (every file a deterministic function of the seed and config):

- ``scenes.jsonl``: every scene, ``{"split": "sft"|"pool"|"bench", "id", "objects"}``;
- ``images/<scene id>.png``: images of the SFT and pool scenes;
- ``sft.json``: the SFT set and ``instructions.json``: the preference-instruction pool, both
  in LLaVA-Instruct-150K format (``{"id", "image", "conversations": [human, gpt]}``);
- ``benchmarks/``: ``images/`` of the held-out scenes and ``mini_pope.jsonl``,
  ``mini_shr.jsonl``, ``mini_gqa.jsonl``, ``mini_mmb.jsonl``.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

from tqdm.auto import tqdm

from aspo_repro.miniworld import lexicon, questions
from aspo_repro.miniworld.config import DataConfig
from aspo_repro.miniworld.questions import QA
from aspo_repro.miniworld.render import png_bytes, render_scene
from aspo_repro.miniworld.scene import Scene, sample_scenes

SPLITS = ("sft", "pool", "bench")
BENCHMARKS = ("mini_pope", "mini_shr", "mini_gqa", "mini_mmb")
POPE_SPLITS = ("random", "popular", "adversarial")
GQA_TYPES = ("colour", "count", "position")
IMAGE_PROMPT = "<image>\n"


def sample_world_scenes(config: DataConfig, seed: int) -> dict[str, list[Scene]]:
    counts = {"sft": config.sft_scenes, "pool": config.pool_scenes, "bench": config.bench_scenes}
    return {split: sample_scenes(seed, split, counts[split], config.bias) for split in SPLITS}


def image_name(scene: Scene) -> str:
    return f"{scene.id}.png"


def _rng(seed: int, scene: Scene, purpose: str) -> random.Random:
    return random.Random(f"aspo-miniworld:{seed}:{scene.id}:{purpose}")


def llava_item(item_id: str, scene: Scene, qa: QA) -> dict:
    return {
        "id": item_id,
        "image": image_name(scene),
        "conversations": [
            {"from": "human", "value": IMAGE_PROMPT + qa.prompt},
            {"from": "gpt", "value": qa.answer},
        ],
    }


def sft_qas(scene: Scene, rng: random.Random) -> list[QA]:
    """A scene's SFT instructions: a description, two existence questions, a short question,
    sometimes a multiple-choice question and a long existence question."""
    qas = [questions.describe_qa(scene, rng), questions.exists_qa(scene, rng), questions.exists_qa(scene, rng),
           questions.short_qa(scene, rng)]
    if rng.random() < 0.3:
        qas.append(questions.choice_qa(scene, rng))
    if rng.random() < 0.2:
        qas.append(questions.exists_qa(scene, rng, long=True))
    return qas


def pool_qa(scene: Scene, rng: random.Random, describe_share: float) -> QA:
    """One pool instruction: mostly a detailed description, else a short question."""
    if rng.random() < describe_share:
        return questions.describe_qa(scene, rng)
    if rng.random() < 0.5:
        return questions.exists_qa(scene, rng, long=True)
    return questions.short_qa(scene, rng)


def sft_items(scenes: Iterable[Scene], seed: int) -> list[dict]:
    items = []
    for scene in scenes:
        for index, qa in enumerate(sft_qas(scene, _rng(seed, scene, "sft"))):
            items.append(llava_item(f"{scene.id}-{index}", scene, qa))
    return items


def pool_items(scenes: Iterable[Scene], seed: int, describe_share: float) -> list[dict]:
    return [llava_item(f"{scene.id}-0", scene, pool_qa(scene, _rng(seed, scene, "pool"), describe_share))
            for scene in scenes]


# ----------------------------------------------------------------------------- benchmarks

def shape_statistics(scenes: Iterable[Scene]) -> tuple[Counter, Counter]:
    """How often each shape appears, and each unordered pair of shapes together."""
    frequency, together = Counter(), Counter()
    for scene in scenes:
        frequency.update(scene.shapes)
        together.update(frozenset(pair) for pair in combinations(sorted(scene.shapes), 2))
    return frequency, together


def pope_negatives(scene: Scene, count: int, split: str, rng: random.Random,
                   frequency: Counter, together: Counter) -> list[str]:
    """POPE's negatives: absent shapes at random, by frequency, or by co-occurrence with the
    present ones (ties broken by the lexicon's order)."""
    absent = [s for s in lexicon.SHAPES if s not in scene.shapes]
    if split == "random":
        return rng.sample(absent, count)
    if split == "popular":
        key = lambda s: -frequency[s]  # noqa: E731
    else:
        key = lambda s: -sum(together[frozenset((s, p))] for p in scene.shapes)  # noqa: E731
    return sorted(absent, key=key)[:count]


def pope_items(scenes: list[Scene], seed: int, frequency: Counter, together: Counter) -> list[dict]:
    items = []
    for scene in scenes:
        rng = _rng(seed, scene, "pope")
        positives = rng.sample(sorted(scene.shapes), min(3, len(scene.shapes)))
        for split in POPE_SPLITS:
            negatives = pope_negatives(scene, len(positives), split, rng, frequency, together)
            for shape, answer in [(s, "yes") for s in positives] + [(s, "no") for s in negatives]:
                items.append({
                    "id": f"pope-{split}-{scene.id}-{shape}", "image": f"images/{image_name(scene)}",
                    "question": questions.EXISTS_QUESTION.format(shape=shape), "answer": answer, "split": split,
                })
    return items


def shr_items(scenes: list[Scene]) -> list[dict]:
    return [{"id": f"shr-{scene.id}", "image": f"images/{image_name(scene)}",
             "question": lexicon.DESCRIBE_PROMPT, "scene": scene.to_dict()} for scene in scenes]


def gqa_items(scenes: list[Scene], count: int, seed: int) -> list[dict]:
    items = []
    for index in range(count):
        scene, kind = scenes[index % len(scenes)], GQA_TYPES[index % len(GQA_TYPES)]
        question, answer = questions.SHORT_QUESTIONS[kind](scene, _rng(seed, scene, f"gqa{index}"))
        items.append({"id": f"gqa-{index:05d}", "image": f"images/{image_name(scene)}",
                      "question": question, "answer": answer, "type": kind})
    return items


def mmb_items(scenes: list[Scene], count: int, seed: int) -> list[dict]:
    kinds = sorted(questions.OPTION_POOLS)
    items = []
    for index in range(count):
        scene = scenes[index % len(scenes)]
        rng = _rng(seed, scene, f"mmb{index}")
        question, options, answer = questions.choice_question(scene, rng, kinds[index % len(kinds)])
        items.append({"id": f"mmb-{index:05d}", "image": f"images/{image_name(scene)}",
                      "question": question, "options": options, "answer": answer})
    return items


def benchmark_items(config: DataConfig, scenes: dict[str, list[Scene]], seed: int) -> dict[str, list[dict]]:
    bench = scenes["bench"]
    frequency, together = shape_statistics(scenes["sft"])
    return {
        "mini_pope": pope_items(bench[: config.pope_images], seed, frequency, together),
        "mini_shr": shr_items(bench[: config.shr_items]),
        "mini_gqa": gqa_items(bench, config.gqa_items, seed),
        "mini_mmb": mmb_items(bench, config.mmb_items, seed),
    }


# ----------------------------------------------------------------------------- writing

def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def _jsonl_bytes(rows: Iterable[dict]) -> bytes:
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()


def write_images(scenes: list[Scene], directory: Path, config: DataConfig, progress: bool, what: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for scene in tqdm(scenes, desc=f"render {what}", disable=not progress, leave=False):
        image = render_scene(scene, config.image.image_size, config.grain)
        (directory / image_name(scene)).write_bytes(png_bytes(image))


def write_data(out: Path, config: DataConfig, seed: int, progress: bool = True) -> None:
    """Write the whole data directory into ``out`` (a fresh directory, made atomic by the caller)."""
    scenes = sample_world_scenes(config, seed)
    write_images(scenes["sft"] + scenes["pool"], out / "images", config, progress, "training scenes")
    write_images(scenes["bench"], out / "benchmarks" / "images", config, progress, "held-out scenes")
    rows = [{"split": split, **scene.to_dict()} for split in SPLITS for scene in scenes[split]]
    (out / "scenes.jsonl").write_bytes(_jsonl_bytes(rows))
    (out / "sft.json").write_bytes(_json_bytes(sft_items(scenes["sft"], seed)))
    pool = pool_items(scenes["pool"], seed, config.pool_describe_share)
    (out / "instructions.json").write_bytes(_json_bytes(pool))
    for name, items in benchmark_items(config, scenes, seed).items():
        (out / "benchmarks" / f"{name}.jsonl").write_bytes(_jsonl_bytes(items))


def read_scenes(data_dir: Path, split: str | None = None) -> list[Scene]:
    scenes = []
    with open(data_dir / "scenes.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if split is None or row["split"] == split:
                scenes.append(Scene.from_dict(row))
    return scenes
