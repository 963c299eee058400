"""Stand-in instruction data: COCO-style JPEG photographs and a LLaVA-Instruct-150K JSON file.

The photographs are 640x480 RGB JPEGs named as COCO's train2017 files (a twelve-digit zero-padded image id, ``000000100037.jpg``):
a sky-to-ground gradient with a few coloured objects (boxes and ellipses) and sensor noise, so
the diffusion noise, the processors' resizing and CLIP's crop act on realistic pixels. The JSON
has LLaVA-Instruct-150K's records (``id``, ``image``, ``conversations`` with ``from: human``
turns starting ``<image>\\n`` and ``from: gpt`` answers), questions and answers about the objects.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from aspo_repro import storage

COLOURS = {"red": (200, 40, 40), "blue": (40, 70, 200), "green": (50, 160, 60), "yellow": (230, 200, 40),
           "white": (235, 235, 235), "black": (25, 25, 25), "orange": (235, 130, 30)}
OBJECTS = ("car", "dog", "cat", "bus", "chair", "umbrella", "bicycle", "cup", "person", "kite")
SIZE = (640, 480)
QUESTIONS = (
    "What is in the image?",
    "Describe the image in detail.",
    "What color is the {object}?",
    "How many objects can you see in the image?",
    "Where is the {object} located in the picture?",
)


@dataclass(frozen=True)
class Thing:
    name: str
    colour: str
    box: tuple[int, int, int, int]


def photo_scene(rng: random.Random) -> list[Thing]:
    things = []
    for _ in range(rng.randint(1, 4)):
        w, h = rng.randint(60, 220), rng.randint(60, 200)
        x, y = rng.randint(0, SIZE[0] - w), rng.randint(SIZE[1] // 3, SIZE[1] - h)
        things.append(Thing(rng.choice(OBJECTS), rng.choice(list(COLOURS)), (x, y, x + w, y + h)))
    return things


def render_photo(things: list[Thing], rng: random.Random):
    import numpy as np
    from PIL import Image, ImageDraw

    top, bottom = np.array((120, 170, 230)), np.array((110, 100, 80))
    rows = np.linspace(0, 1, SIZE[1])[:, None, None]
    pixels = (top * (1 - rows) + bottom * rows) * np.ones((1, SIZE[0], 1))
    image = Image.fromarray(pixels.astype("uint8"))
    draw = ImageDraw.Draw(image)
    for thing in things:
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape(thing.box, fill=COLOURS[thing.colour], outline=(0, 0, 0))
    noisy = np.asarray(image, dtype="float32") + np.random.default_rng(rng.randrange(2**32)).normal(0, 6, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(noisy.clip(0, 255).astype("uint8"))


def _position(box: tuple[int, int, int, int]) -> str:
    centre = (box[0] + box[2]) / 2
    return "on the left" if centre < SIZE[0] / 3 else "on the right" if centre > 2 * SIZE[0] / 3 else "in the middle"


def answer(question: str, things: list[Thing], subject: Thing) -> str:
    if question.startswith("What color"):
        return f"The {subject.name} is {subject.colour}."
    if question.startswith("How many"):
        return f"There are {len(things)} objects in the image."
    if question.startswith("Where"):
        return f"The {subject.name} is {_position(subject.box)} of the picture."
    sentences = [f"There is a {t.colour} {t.name} {_position(t.box)}." for t in things]
    return " ".join(["The image shows an outdoor scene under a blue sky.", *sentences])


def write_instruction_data(json_path: Path, image_dir: Path, count: int, seed: int = 0) -> tuple[Path, Path]:
    """``count`` photographs in ``image_dir`` and their instructions in ``json_path`` (with what each
    photograph shows beside it, ``scenes.json``); reused when complete (the JSON is written last)."""
    if json_path.is_file():
        return json_path, image_dir
    rng = random.Random(seed)
    records, scenes = [], {}
    for index in range(count):
        things = photo_scene(rng)
        image_id = f"{100000 + index * 37:012d}"
        storage.atomic_write_bytes(image_dir / f"{image_id}.jpg", _jpeg(render_photo(things, rng)))
        scenes[image_id] = [asdict(thing) for thing in things]
        subject = rng.choice(things)
        question = rng.choice(QUESTIONS).format(object=subject.name)
        records.append({"id": image_id, "image": f"{image_id}.jpg", "conversations": [
            {"from": "human", "value": f"<image>\n{question}"},
            {"from": "gpt", "value": answer(question, things, subject)},
        ]})
    storage.atomic_write_text(scenes_path(json_path), json.dumps(scenes) + "\n")
    storage.atomic_write_text(json_path, json.dumps(records, indent=1) + "\n")
    return json_path, image_dir


def scenes_path(json_path: Path) -> Path:
    return json_path.with_name("scenes.json")


def read_scenes(json_path: Path) -> dict[str, list[Thing]]:
    """What each photograph shows, by image id."""
    data = json.loads(scenes_path(json_path).read_text())
    return {image_id: [Thing(t["name"], t["colour"], tuple(t["box"])) for t in things] for image_id, things in data.items()}


def _jpeg(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def corpus(json_path: Path) -> list[str]:
    """The texts the stand-ins' tokenizers are trained on: every turn of the instruction data,
    and the words benchmark answers are made of."""
    records = json.loads(json_path.read_text())
    texts = [turn["value"].replace("<image>\n", "") for record in records for turn in record["conversations"]]
    return texts + ["Yes. No. yes no A B C D E. Answer with the option's letter from the given choices directly.",
                    "Answer the question using a single word or phrase. The answer is"]
