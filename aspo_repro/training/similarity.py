"""Image-text similarities for ASPO's S weight (Eq. 6), when the preference data lacks them.

A scorer is any callable ``score(images, texts) -> similarities`` over paired lists (the
signature of ``aspo_repro.clip_scorer.ClipScorer.score``); by default the project's CLIP scorer
(the paper's CLIP, or the open_clip directory named by the ``clip`` setting).
:class:`CachedScorer` wraps one so that each (image, text) pair is scored once per run, keyed by
the image's content hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Scorer = Callable[[Sequence, Sequence[str]], Sequence[float]]


def image_digest(image) -> str:
    """A content hash of a PIL image (pixels, size and mode)."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class CachedScorer:
    """Scores (image, text) pairs through ``scorer``, each distinct pair once."""

    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer
        self._cache: dict[tuple[str, str], float] = {}
        self.calls = 0

    def __call__(self, image, texts: Sequence[str]) -> list[float]:
        key = image_digest(image)
        missing = [text for text in dict.fromkeys(texts) if (key, text) not in self._cache]
        if missing:
            self.calls += 1
            scores = self._scorer([image] * len(missing), missing)
            if len(scores) != len(missing):
                raise ValueError(
                    f"the scorer returned {len(scores)} similarities for {len(missing)} texts"
                )
            self._cache.update({(key, text): float(score) for text, score in zip(missing, scores)})
        return [self._cache[(key, text)] for text in texts]

    def __len__(self) -> int:
        return len(self._cache)


def default_scorer(clip: str | None = None) -> Scorer:
    """The project's CLIP scorer: an open_clip checkpoint directory, or the paper's CLIP when None."""
    from aspo_repro.clip_scorer import ClipScorer

    return (ClipScorer.from_pretrained() if clip is None else ClipScorer.from_dir(clip)).score
