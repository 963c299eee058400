"""Helpers of the preference-pipeline tests: a small LLaVA-Instruct-style source on disk, a CLIP
stand-in whose scores are hand-computable, and loading of the tiny random-weight checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

QUESTIONS = (
    "Describe the image in detail.",
    "What colour is the circle?\nAnswer the question using a single word or phrase.",
    "Is there a square in the image?",
    "How many objects are there?",
)


def write_source(root: Path, count: int, size: int = 48) -> tuple[Path, Path]:
    """``count`` records with distinct one-colour images: (json path, image folder)."""
    from PIL import Image

    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(count):
        name = f"{index:012d}.png"
        Image.new("RGB", (size, size), ((37 * index) % 256, (91 * index + 40) % 256, 200)).save(image_dir / name)
        records.append({
            "id": f"rec{index:03d}",
            "image": name,
            "conversations": [
                {"from": "human", "value": "<image>\n" + QUESTIONS[index % len(QUESTIONS)]},
                {"from": "gpt", "value": "An answer."},
                {"from": "human", "value": "A follow-up question?"},
            ],
        })
    json_path = root / "instruct.json"
    json_path.write_text(json.dumps(records))
    return json_path, image_dir


def broken_source(root: Path) -> tuple[Path, Path]:
    """Six records: two good, then a missing image, an unreadable image, a malformed record and one
    without a question."""
    json_path, image_dir = write_source(root, 2)
    records = json.loads(json_path.read_text())
    (image_dir / "garbage.jpg").write_bytes(b"this is not an image")
    records += [
        {"id": "no-file", "image": "absent.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"}]},
        {"id": "garbled", "image": "garbage.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat?"}]},
        {"id": "bad-turns", "image": "000000000000.png", "conversations": "not a list"},
        {"id": "silent", "image": "000000000000.png", "conversations": [{"from": "human", "value": "<image>\n  "}]},
        ["not", "an", "object"],
    ]
    json_path.write_text(json.dumps(records))
    return json_path, image_dir


def fake_similarity(image, sentence: str) -> float:
    """The stand-in CLIP score: the image's red level plus a hundredth per character."""
    return image.getpixel((0, 0))[0] / 255 + len(sentence) / 100


def fake_scorer(images, sentences):
    assert len(images) == len(sentences)
    return [fake_similarity(image, sentence) for image, sentence in zip(images, sentences)]


def load_tiny(model_dir: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)
