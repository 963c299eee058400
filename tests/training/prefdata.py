"""Synthetic preference directories in the schema of aspo_repro.training.preferences (tests only)."""

from __future__ import annotations

import json
import random
from pathlib import Path

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle", "star")
PLACES = ("left", "right", "top", "bottom", "middle")
PROMPTS = ("describe the image .", "what shape is in the image ?", "how many objects are there ?")


def sentence(rng: random.Random) -> str:
    return f"there is a {rng.choice(COLOURS)} {rng.choice(SHAPES)} on the {rng.choice(PLACES)} ."


def response(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def image(rng: random.Random, size: int = 20):
    from PIL import Image

    return Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))


def fake_similarity(text: str) -> float:
    """A deterministic stand-in for CLIP: depends on the words of the text only."""
    words = text.split()
    return (sum(len(w) * (i + 1) for i, w in enumerate(words)) % 97) / 97.0


def fake_scorer(images, texts):
    return [fake_similarity(text) for text in texts]


def fake_verdict(text: str) -> int:
    """A deterministic stand-in for the mini world's judge: 1 (correct) or 0 (hallucinated)."""
    return int(fake_similarity(text) >= 0.5)


def make_rows(
    count: int, sentences: tuple[int, int] = (2, 4), seed: int = 0, with_similarity: bool = True,
    with_verdicts: bool = True,
):
    from aspo_repro.segmentation import sentence_spans

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        chosen = response(rng, rng.randint(*sentences))
        rejected = response(rng, rng.randint(*sentences))
        spans = [list(span) for span in sentence_spans(chosen)]
        row = {
            "id": f"pair-{index}",
            "images": [image(rng)],
            "prompt": rng.choice(PROMPTS),
            "chosen": chosen,
            "rejected": rejected,
            "chosen_sentence_spans": spans,
        }
        if with_similarity:
            row["chosen_sentence_similarity"] = [fake_similarity(chosen[s:e]) for s, e in spans]
        if with_verdicts:
            row["chosen_sentence_verdict"] = [fake_verdict(chosen[s:e]) for s, e in spans]
        rows.append(row)
    return rows


def encoded(picture) -> dict:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def save_prefs(directory: str | Path, rows: list[dict], manifest: dict | None = None) -> Path:
    """Rows to a preference directory; ``images`` entries may be PIL images or raw {bytes, path} dicts."""
    from datasets import Dataset, Features, Image, List
    from PIL import Image as PILImage

    directory = Path(directory)
    columns = {key: [row.get(key) for row in rows] for key in rows[0]}
    features = None
    if "images" in columns:
        columns["images"] = [
            None
            if images is None
            else [encoded(i) if isinstance(i, PILImage.Image) else i for i in images]
            for images in columns["images"]
        ]
        others = Dataset.from_dict({k: v for k, v in columns.items() if k != "images"}).features
        features = Features({**others, "images": List(Image())})
    Dataset.from_dict(columns, features=features).save_to_disk(str(directory))
    (directory / "manifest.json").write_text(
        json.dumps(manifest or {"source": "tests", "rows": len(rows)})
    )
    return directory
