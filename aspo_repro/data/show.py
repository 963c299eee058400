"""``prefs show``: one pair as a person reads it, with what ASPO will weigh.

Each chosen sentence is printed with its CLIP similarity S and the min-max normalised S^ of
Eq. 6-7 (``weights.similarity_weights``), the similarity half of the sentence's adaptive weight.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.errors import UserError


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
    dataset = _load(Path(directory))
    if not -len(dataset) <= index < len(dataset):
        raise UserError(f"--index {index} is out of range: {directory} holds {len(dataset)} pairs (0..{len(dataset) - 1})")
    index %= len(dataset)
    row = dataset[index]
    spans = row.get("chosen_sentence_spans") or []
    similarity = [float(v) for v in (row.get("chosen_sentence_similarity") or [])]
    images = row.get("images") or []
    return PairView(
        index=index, total=len(dataset), id=str(row["id"]), prompt=row["prompt"], chosen=row["chosen"],
        rejected=row["rejected"], sentences=[row["chosen"][s:e] for s, e in spans], similarity=similarity,
        normalised=_normalised(similarity), image_size=images[0].size if images else None,
    )


def _load(directory: Path):
    from datasets import load_from_disk

    if not directory.is_dir():
        raise UserError(f"{directory} does not exist")
    try:
        return load_from_disk(str(directory))
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"{directory} is not a preference dataset written by prefs: {error}") from None


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
