"""Image-text similarities for ASPO's S weight (Eq. 6), when the preference data lacks them.

A scorer is any callable ``score(images, texts) -> similarities`` over paired lists (the
signature of ``aspo_repro.clip_scorer.ClipScorer.score``); by default the project's CLIP scorer
(the paper's CLIP, or the open_clip directory named by the ``clip`` setting).
:class:`CachedScorer` wraps one so that each (image, text) pair is scored once per run, keyed by
the image's content hash. :func:`similarity_scorer` chooses a run's scorer (or none, when the data
holds every similarity it needs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aspo_repro.methods import Method
from aspo_repro.training.config import TrainConfig

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


def similarity_scorer(method: Method, config: TrainConfig, preferences, scorer: Scorer | None,
                      checkpoint: Path | None = None):
    """A cached scorer when some similarity must be computed; None when the data holds them all.

    Similarities computed here come from the CLIP the data was scored with (its manifest), unless
    the ``clip`` setting names another, so that on-the-fly and stored similarities agree; a method
    that scores every sentence again uses its own scorer's ``checkpoint`` (:func:`own_checkpoint`).
    ``scorer`` is the caller's (the project's CLIP scorer when None).
    """
    if not method.uses_similarity or method.uses_judge:  # the judge's verdicts are in the data
        return None
    if method.recomputes_similarity:
        return CachedScorer(scorer or default_scorer(str(checkpoint or own_checkpoint(method, preferences.manifest))))
    if method.unit.stored_in_data and preferences.has_similarity and config.similarity_source == "data":
        return None
    return CachedScorer(scorer or default_scorer(config.clip or data_clip(preferences.manifest)))


def own_checkpoint(method: Method, manifest: dict[str, Any] | None, world=None) -> Path:
    """The checkpoint of a scorer that scores every sentence again (``scorer=judge-trained``), from the mini
    world the preference data was made in (its manifest's settings), trained there on first use:
    ``world`` when it is that world (the built world the run is given, in whichever cache), else that
    world from the default cache."""
    from aspo_repro.aspo_choices import SCORER_KINDS
    from aspo_repro.errors import UserError
    from aspo_repro.miniworld.obtain import recorded_world

    settings = ((manifest or {}).get("settings") or {}).get("world")
    if not settings:
        raise UserError(f"scorer={method.scorer} is trained in the mini world: it needs mini preference data, "
                        "whose manifest names its world")
    if world is None or not is_recorded_world(world, settings):
        world = recorded_world(settings, progress=True)
    return SCORER_KINDS[method.scorer].world_scorer.checkpoint(world)


def is_recorded_world(world, settings: dict[str, Any]) -> bool:
    """Whether ``world`` (where the run's model names resolve) is the mini world a manifest's
    ``settings.world`` names."""
    return tuple(getattr(world, name, None) for name in ("seed", "size", "replicate")) == (
        settings["seed"], settings["size"], settings.get("replicate", 0))


def data_clip(manifest: dict[str, Any] | None) -> str | None:
    """The open_clip directory the preference data was scored with, if it names one that exists."""
    clip = ((manifest or {}).get("clip") or {}).get("clip")
    return clip if isinstance(clip, str) and Path(clip).is_dir() else None


def similarity_record(method: Method, scorer: CachedScorer | None, auc: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """Where a run's similarities came from (run.json), given the scorer it used, and how well they
    ranked its chosen sentences against the exact judge (``auc``, :func:`similarity_auc`)."""
    if not method.uses_similarity:
        return {"source": "unused"}
    if method.uses_judge:
        record = {"source": "the exact judge's verdicts in the data (oracle)", "verdict_flip": method.verdict_flip}
    else:
        record = {
            "source": "computed" if scorer is not None else "data",
            "scored_pairs": len(scorer) if scorer is not None else 0,
        }
        if method.recomputes_similarity:
            record["scorer"] = method.scorer
    return {**record, "auc_within_answers": auc} if auc is not None else record


def similarity_is_judgeable(method: Method, preferences) -> bool:
    """Whether a run weights by similarities of units the exact judge has a verdict for (sentences of
    mini data): then their AUC against the judge is measured (the weights' own when alpha is 1)."""
    return method.uses_similarity and method.unit.stored_in_data and preferences.has_verdicts


def similarity_auc(collator, dataset, preferences) -> dict[str, Any]:
    """The within-answer AUC (``data.diagnostics.within_answer_auc``) of the similarities the
    collator gives the loss for each chosen sentence of ``dataset`` (formatted pairs), against the
    judge's verdicts in the preference data; unjudgeable sentences left out, and so is a pair whose
    chosen answer has another number of sentences than its verdicts (it is not the answer judged: a
    damaged or altered pair), counted as ``pairs_left_out``: a measurement never fails a finished run."""
    from aspo_repro.data.diagnostics import ChosenSentence, within_answer_auc
    from aspo_repro.training.preferences import HALLUCINATED, UNJUDGED, VERDICT_COLUMN

    verdicts = dict(zip(preferences.dataset["id"], preferences.dataset[VERDICT_COLUMN]))
    sentences, left_out = [], 0
    for index, example in enumerate(dataset):
        scores, judged = collator.unit_similarities(example), verdicts[example["id"]]
        if len(scores) != len(judged):
            left_out += 1
            continue
        sentences += [ChosenSentence(index, 0, score, {}, verdict == HALLUCINATED)
                      for score, verdict in zip(scores, judged) if verdict != UNJUDGED]
    auc = within_answer_auc(sentences, lambda sentence: sentence.similarity)
    return {**auc, "pairs_left_out": left_out} if left_out else auc
