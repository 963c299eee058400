"""Test material: a hand-made mini benchmark directory, scripted answerers (lmms-eval model
objects), a stand-in OpenAI-compatible client, and HA-DPO's SHR files in miniature.

The benchmark files follow the mini world's format (``miniworld.md``, "Benchmarks"); their
counts are chosen so that every expected metric in the tests is computed by hand.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from lmms_eval.api.model import lmms

from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.miniworld.render import render_scene
from aspo_repro.miniworld.scene import Scene

SCENES = {
    "s1": {"id": "s1", "objects": [
        {"shape": "circle", "colour": "red", "size": "large", "row": 0, "column": 0},
        {"shape": "square", "colour": "blue", "size": "small", "row": 1, "column": 1}]},
    "s2": {"id": "s2", "objects": [
        {"shape": "triangle", "colour": "green", "size": "small", "row": 0, "column": 2}]},
    "s3": {"id": "s3", "objects": [
        {"shape": "ring", "colour": "purple", "size": "small", "row": 0, "column": 1},
        {"shape": "diamond", "colour": "yellow", "size": "large", "row": 2, "column": 0},
        {"shape": "cross", "colour": "white", "size": "small", "row": 2, "column": 2}]},
}

# (scene, shape asked about, split). Answers follow from the scenes:
# random 3 yes / 2 no, popular 2 yes / 2 no, adversarial 1 yes / 3 no.
POPE = [
    ("s1", "circle", "random"), ("s1", "square", "random"), ("s2", "triangle", "random"),
    ("s2", "star", "random"), ("s3", "bar", "random"),
    ("s1", "circle", "popular"), ("s3", "ring", "popular"), ("s2", "circle", "popular"), ("s3", "square", "popular"),
    ("s3", "diamond", "adversarial"), ("s1", "triangle", "adversarial"), ("s2", "star", "adversarial"),
    ("s3", "bar", "adversarial"),
]
POPE_POSITIVES = {"random": (3, 2), "popular": (2, 2), "adversarial": (1, 3)}  # (yes, no) per split

GQA = [
    ("s1", "What colour is the circle?", "red", "colour"),
    ("s1", "How many objects are there?", "2", "count"),
    ("s3", "Where is the yellow diamond?", "bottom left", "position"),
    ("s2", "What shape is in the top right?", "triangle", "shape"),
]

MMB = [
    ("s1", "What colour is the square?", ["red", "blue", "green", "white"], 1),
    ("s3", "How many objects are there?", ["1", "2", "3", "4"], 2),
]


def write_benchmark_dir(root: Path) -> Path:
    """Write mini_pope/shr/gqa/mmb.jsonl and the scene images under ``root``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for scene_id, scene in SCENES.items():
        render_scene(Scene.from_dict(scene)).save(root / "images" / f"{scene_id}.png")
    pope = [{"id": f"pope-{i}", "image": f"images/{s}.png", "question": f"Is there a {shape} in the image?",
             "answer": "yes" if shape in Scene.from_dict(SCENES[s]).shapes else "no", "split": split}
            for i, (s, shape, split) in enumerate(POPE)]
    shr = [{"id": f"shr-{s}", "image": f"images/{s}.png", "question": lexicon.DESCRIBE_PROMPT, "scene": SCENES[s]}
           for s in SCENES]
    gqa = [{"id": f"gqa-{i}", "image": f"images/{s}.png", "question": q, "answer": a, "type": t}
           for i, (s, q, a, t) in enumerate(GQA)]
    mmb = [{"id": f"mmb-{i}", "image": f"images/{s}.png", "question": q, "options": o, "answer": a}
           for i, (s, q, o, a) in enumerate(MMB)]
    for name, rows in (("mini_pope", pope), ("mini_shr", shr), ("mini_gqa", gqa), ("mini_mmb", mmb)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


Policy = Callable[[str, dict], str]


def perfect_answer(task: str, doc: dict) -> str:
    """The right answer, read from the ground truth."""
    if task.startswith("mini_pope"):
        return "Yes" if doc["answer"] == "yes" else "No"
    if task == "mini_gqa":
        return doc["answer"]
    if task == "mini_mmb":
        return lexicon.OPTION_LETTERS[doc["answer"]]
    if task == "mini_shr":
        return grammar.describe(Scene.from_dict(doc["scene"]), random.Random(0))
    raise AssertionError(f"no perfect answer for task {task}")


class ScriptedAnswerer(lmms):
    """An lmms-eval model that answers by a policy of (task, document); it also loads every
    image through the task's doc_to_visual, as a real model would."""

    def __init__(self, policy: Policy, image_size: tuple[int, int] = (48, 48)) -> None:
        super().__init__()
        self.policy = policy
        self.image_size = image_size
        self.prompts: dict[str, list[str]] = {}

    def generate_until(self, requests) -> list[str]:
        answers = []
        for request in requests:
            context, _, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            [image] = doc_to_visual(doc)
            assert image.size == self.image_size
            self.prompts.setdefault(task, []).append(context)
            answers.append(self.policy(task, doc))
        return answers

    def loglikelihood(self, requests):
        raise AssertionError("the mini tasks only generate")

    def generate_until_multi_round(self, requests):
        raise AssertionError("the mini tasks only generate")


class FakeChat:
    """An OpenAI-compatible client returning canned replies and recording the prompts."""

    def __init__(self, replies, model="gpt-4-0613"):
        self.replies, self.prompts, self.model = list(replies), [], model
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, model, messages, temperature, max_tokens):
        self.prompts.append(messages[0]["content"])
        message = SimpleNamespace(content=self.replies.pop(0))
        return SimpleNamespace(model=self.model, choices=[SimpleNamespace(message=message)])


def write_ha_dpo_files(root):
    """HA-DPO's SHR files and a two-image Visual Genome, in their formats."""
    from PIL import Image

    (root / "shr").mkdir()
    (root / "vg" / "VG_100K").mkdir(parents=True)
    (root / "shr" / "val_images_final.json").write_text(json.dumps([{"image_id": 7}, {"image_id": 9}]))
    (root / "shr" / "shr_factual_part1.jsonl").write_text(json.dumps({"7": ["A car is red.", "It is parked."]}) + "\n")
    (root / "shr" / "shr_factual_part2.jsonl").write_text(json.dumps({"9": ["A dog sleeps."]}) + "\n")
    images = [{"image_id": i, "width": 200, "height": 100, "url": f"https://x/VG_100K/{i}.jpg"} for i in (7, 9)]
    (root / "vg" / "image_data.json").write_text(json.dumps(images))
    regions = [{"regions": [{"image_id": 7, "x": 20, "y": 10, "width": 100, "height": 50, "phrase": "red car"},
                            {"image_id": 7, "x": 0, "y": 0, "width": 10, "height": 10, "phrase": ""}]},
               {"regions": [{"image_id": 9, "x": 0, "y": 0, "width": 200, "height": 100, "phrase": "a dog"}]}]
    (root / "vg" / "region_descriptions.json").write_text(json.dumps(regions))
    for i in (7, 9):
        Image.new("RGB", (200, 100), (i * 20, 0, 0)).save(root / "vg" / "VG_100K" / f"{i}.jpg")
