"""Injected faults (mutants) for measuring what the regression check catches (docs/regression.md).

Each mutant is a realistic bug in one part of the method, applied by patching the package from
outside: ``sitecustomize.py`` beside this file applies the one ``ASPO_TEST_MUTANT`` names in every
process that starts with this directory at the front of ``PYTHONPATH`` (the reproduction and any
worker it starts). The package itself knows nothing of them.

A mutant also says which methods' runs it changes (``retrains``): the matrix reruns those and
reuses the candidate's other runs, so each mutant costs only what it touches.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

MUTANT_ENV = "ASPO_TEST_MUTANT"
SWAPPED_FRACTION = 0.2

ASPO_FAMILY = ("aspo", "aspo-s", "aspo-p", "aspo-oracle")
EVERY_TRAINED = ("dpo", *ASPO_FAMILY)


@dataclass(frozen=True)
class Mutant:
    name: str
    part: str  # what it breaks: loss, weights, data, training or evaluation
    description: str
    retrains: tuple[str, ...]  # the methods whose runs it changes
    apply: Callable[[], None]


_patched: list[tuple[object, str, object]] = []


def _patch(owner: object, name: str, value: object) -> None:
    _patched.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def restore() -> None:
    """Undo every patch applied in this process (the tests apply mutants in-process)."""
    while _patched:
        owner, name, value = _patched.pop()
        setattr(owner, name, value)


def _weights_inverted() -> None:
    """ASPO's adaptive weights inverted, w -> 1 - w on every unit: hallucinated sentences up-weighted."""
    import torch

    from aspo_repro.losses import aspo

    original = aspo.adaptive_weights

    @functools.wraps(original)
    def inverted(alpha, unit_mask, **kwargs):
        weights = original(alpha, unit_mask, **kwargs)
        return torch.where(unit_mask, 1 - weights, weights)

    _patch(aspo, "adaptive_weights", inverted)


def _aspo_is_dpo() -> None:
    """ASPO degraded into DPO: every weight 0 and c = 1."""
    import torch

    from aspo_repro.losses import aspo

    original_weights, original_normaliser = aspo.adaptive_weights, aspo.normaliser

    @functools.wraps(original_weights)
    def no_weights(alpha, unit_mask, **kwargs):
        return torch.zeros_like(original_weights(alpha, unit_mask, **kwargs))

    @functools.wraps(original_normaliser)
    def unit_normaliser(norm, rewards, *args, **kwargs):
        return torch.ones_like(original_normaliser(norm, rewards, *args, **kwargs))

    _patch(aspo, "adaptive_weights", no_weights)
    _patch(aspo, "normaliser", unit_normaliser)


def _normaliser_keeps_gradient() -> None:
    """The normaliser c = R_c / R*_c of Eq. 12 computed with its gradient: the margin c R*_c is then R_c,
    DPO's, and the weights no longer shape the update (docs/aspo-math.md)."""
    import torch

    from aspo_repro.aspo_choices import C_EPSILON, reward_ratio
    from aspo_repro.losses import aspo as aspo_module
    from aspo_repro.losses import dispatch
    from aspo_repro.losses.common import LossOutput
    from aspo_repro.weights import unit_totals

    original = aspo_module.aspo_loss

    def aspo_loss(chosen, rejected, chosen_units, options=aspo_module.ASPO_S_P, **kwargs):
        out = original(chosen, rejected, chosen_units, options, **kwargs)
        beta = kwargs.get("beta", 0.1)
        rewards = unit_totals(chosen.scaled_log_ratios(beta).unsqueeze(1), chosen_units, out.weights.shape[-1])[:, 0]
        weighted = (1 + out.weights) * rewards
        # rows whose c the normaliser sets to 1 (|R*_c| < eps) reach it as rewards of 1: no 0 / 0
        usable = (weighted.sum(-1).abs() >= C_EPSILON)[:, None]
        c = reward_ratio(torch.where(usable, rewards, 1.0), torch.where(usable, weighted, 1.0),
                         1 + out.weights, out.unit_mask, options.clamp_c)
        margins = c * weighted.sum(-1) - rejected.scaled_log_ratios(beta).sum(-1)
        losses = -torch.nn.functional.logsigmoid(margins)
        return LossOutput(losses.mean(), losses.detach(), margins.detach(), out.chosen_rewards,
                          out.rejected_rewards, out.weights, out.unit_mask, c.detach())

    _patch(dispatch, "aspo_loss", aspo_loss)


def _perplexity_sign() -> None:
    """ASPO-P's perplexity term with its sign flipped: fluent (low-perplexity) sentences down-weighted."""
    from aspo_repro import weights

    original = weights.perplexity_weights

    @functools.wraps(original)
    def flipped(mean_nll, unit_mask):
        return original(-mean_nll, unit_mask)

    _patch(weights, "perplexity_weights", flipped)


def _wrap_formatting(change) -> None:
    """Apply ``change(dataset, judge_scores) -> dataset`` to what ``format_preferences`` returns."""
    from aspo_repro.training import formatting

    original = formatting.format_preferences

    @functools.wraps(original)
    def changed(preferences, processor, family, max_length, on_overlong, judge_scores=False):
        dataset = original(preferences, processor, family, max_length, on_overlong, judge_scores=judge_scores)
        return change(dataset, judge_scores)

    _patch(formatting, "format_preferences", changed)


def _spans_shifted() -> None:
    """Sentence scores attached to the wrong sentences: each chosen sentence gets its successor's score
    (the spans shifted by one sentence against the scores; the last gets the first's)."""
    def shift(dataset, judge_scores):
        def rotate(row):
            scores = row["sentence_similarity"]
            return {"sentence_similarity": None if scores is None else scores[1:] + scores[:1]}
        return dataset.map(rotate, desc="mutant: spans shifted")

    _wrap_formatting(shift)


def _oracle_inverted() -> None:
    """The exact judge's verdicts inverted in the oracle's weights (hallucinated sentences scored 1)."""
    def invert(dataset, judge_scores):
        if not judge_scores:
            return dataset
        return dataset.map(lambda row: {"sentence_similarity": [1.0 - s for s in row["sentence_similarity"]]},
                           desc="mutant: verdicts inverted")

    _wrap_formatting(invert)


def swapped(pair_id: str) -> bool:
    """Whether the pair is one of the mutant's swapped fifth (fixed by its id)."""
    return zlib.crc32(str(pair_id).encode()) % 1000 < SWAPPED_FRACTION * 1000


def _pairs_swapped() -> None:
    """Chosen and rejected swapped in a fifth of the pairs (a labelling bug in the data pipeline); the
    swapped pairs' new chosen answers carry no sentence scores (a constant) and no verdicts."""
    import dataclasses

    from aspo_repro.segmentation import sentence_spans
    from aspo_repro.training import formatting
    from aspo_repro.training.preferences import (
        SIMILARITY_COLUMN,
        SPANS_COLUMN,
        UNJUDGED,
        VERDICT_COLUMN,
    )

    def swap(row):
        if not swapped(row["id"]):
            return {}
        spans = [list(span) for span in sentence_spans(row["rejected"])]
        changed = {"chosen": row["rejected"], "rejected": row["chosen"], SPANS_COLUMN: spans}
        if row.get(SIMILARITY_COLUMN) is not None:
            changed[SIMILARITY_COLUMN] = [0.5] * len(spans)
        if row.get(VERDICT_COLUMN) is not None:
            changed[VERDICT_COLUMN] = [UNJUDGED] * len(spans)
        return changed

    original = formatting.format_preferences

    @functools.wraps(original)
    def with_swaps(preferences, *args, **kwargs):
        mutated = preferences.dataset.map(swap, desc="mutant: pairs swapped")
        return original(dataclasses.replace(preferences, dataset=mutated), *args, **kwargs)

    _patch(formatting, "format_preferences", with_swaps)


def _image_blanked() -> None:
    """The training prompt's image blanked (a grey image of the same size): the preference signal
    loses what ties a sentence to the picture."""
    from PIL import Image

    def blank(dataset, judge_scores):
        def grey(row):
            return {"images": [Image.new("RGB", image.size, (128, 128, 128)) for image in row["images"]]}
        return dataset.map(grey, desc="mutant: images blanked")

    _wrap_formatting(blank)


def _beta_times_ten() -> None:
    """The KL strength beta ten times the recipe's (a config read in the wrong unit)."""
    from aspo_repro.training import run

    original = run.get_method

    @functools.wraps(original)
    def stronger(name, **options):
        method = original(name, **options)
        return original(name, **{**options, "beta": method.beta * 10})

    _patch(run, "get_method", stronger)


def _adapter_dropped() -> None:
    """The trained adapter dropped when the evaluation checkpoint is made: the merge saves the base."""
    from peft.tuners.tuners_utils import BaseTuner

    _patch(BaseTuner, "merge_and_unload", lambda self, *args, **kwargs: self.unload())


MUTANTS = {m.name: m for m in (
    Mutant("weights-inverted", "weights", "ASPO's weights inverted (w -> 1 - w)", ASPO_FAMILY, _weights_inverted),
    Mutant("aspo-is-dpo", "loss", "ASPO degraded into DPO (w = 0, c = 1)", ASPO_FAMILY, _aspo_is_dpo),
    Mutant("normaliser-gradient", "loss", "the normaliser c keeps its gradient", ASPO_FAMILY,
           _normaliser_keeps_gradient),
    Mutant("spans-shifted", "weights", "sentence scores shifted by one sentence", ASPO_FAMILY, _spans_shifted),
    Mutant("perplexity-sign", "weights", "ASPO-P's perplexity sign flipped", ("aspo", "aspo-p"), _perplexity_sign),
    Mutant("oracle-inverted", "weights", "the oracle's verdicts inverted", ("aspo-oracle",), _oracle_inverted),
    Mutant("pairs-swapped", "data", "chosen and rejected swapped in 20% of pairs", EVERY_TRAINED, _pairs_swapped),
    Mutant("image-blanked", "data", "the image blanked in the training prompt", EVERY_TRAINED, _image_blanked),
    Mutant("beta-x10", "training", "beta x 10", EVERY_TRAINED, _beta_times_ten),
    Mutant("adapter-dropped", "evaluation", "the adapter dropped from the evaluated checkpoint", EVERY_TRAINED,
           _adapter_dropped),
)}


def apply(name: str) -> Mutant:
    if name not in MUTANTS:
        raise SystemExit(f"unknown mutant {name!r}; known: {', '.join(MUTANTS)}")
    mutant = MUTANTS[name]
    mutant.apply()
    return mutant
