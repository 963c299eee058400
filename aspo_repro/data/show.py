"""``prefs show``: one pair as a person reads it, with what ASPO will weigh.

Each chosen sentence is printed with its CLIP similarity S and the min-max normalised S^ of
Eq. 6-7 (``weights.similarity_weights``), the similarity half of the sentence's adaptive weight.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PairView:
    index: int
    total: int
    id: str
    prompt: str
    chosen: str
    rejected: str
    sentences: list[str]
    similarity: list[float]
    normalised: list[float]
    image_size: tuple[int, int] | None


def load_pair(directory: str | Path, index: int) -> PairView:
    """Pair ``index`` of a preference directory, read and checked as training reads it."""
    from aspo_repro.training.preferences import open_preferences, read_row

    opened = open_preferences(directory)
    row = read_row(opened, index)
    spans = row.get("chosen_sentence_spans") or []
    similarity = [float(v) for v in (row.get("chosen_sentence_similarity") or [])]
    return PairView(
        index=index % len(opened.dataset), total=len(opened.dataset), id=str(row["id"]), prompt=row["prompt"],
        chosen=row["chosen"], rejected=row["rejected"], sentences=[row["chosen"][s:e] for s, e in spans],
        similarity=similarity, normalised=_normalised(similarity), image_size=_image_size(row["images"][0]),
    )


def _image_size(image: dict) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]) as opened:
        return opened.size


def _normalised(similarity: list[float]) -> list[float]:
    if not similarity:
        return []
    import torch

    from aspo_repro.weights import similarity_weights

    values = torch.tensor([similarity])
    return similarity_weights(values, torch.ones_like(values, dtype=torch.bool))[0].tolist()


def format_pair(pair: PairView) -> str:
    size = f"{pair.image_size[0]}x{pair.image_size[1]}" if pair.image_size else "none"
    lines = [
        f"pair {pair.index} of {pair.total} (id {pair.id}, image {size})",
        "prompt:",
        textwrap.indent(pair.prompt, "  "),
        f"chosen ({len(pair.sentences)} sentence(s); S = CLIP similarity to the image, S^ = min-max over the answer):",
    ]
    if pair.similarity and len(pair.similarity) == len(pair.sentences):
        lines += [f"  [{i}] S={s:+.4f} S^={n:.3f}  {sentence}"
                  for i, (sentence, s, n) in enumerate(zip(pair.sentences, pair.similarity, pair.normalised))]
    else:
        lines += [f"  [{i}] {sentence}" for i, sentence in enumerate(pair.sentences)]
    lines += ["rejected:", textwrap.indent(pair.rejected, "  ")]
    return "\n".join(lines)
