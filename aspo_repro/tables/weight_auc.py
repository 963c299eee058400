"""The within-answer AUC of a run's sentence weights against the exact judge, and where it comes from.

Three sources, read by the weight-quality figure and by a mini table's similarity section: the training
runs' own records (every run that weights sentences by a similarity on data with the judge's verdicts
measures that similarity: ``training.similarity.similarity_auc``), the model's preference diagnosis (the
weights every registered ASPO method computes from the data, ``data.diagnostics``), and, for the judge's
exact verdicts, 1 by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aspo_repro.data.diagnostics import weight_label, weighted_methods
from aspo_repro.methods import Method
from aspo_repro.results import RunKey, seed_results


@dataclass(frozen=True)
class Auc:
    """A within-answer AUC, its 95% interval (None: exact), and where it comes from."""

    value: float
    low: float | None
    high: float | None
    source: str

    def text(self) -> str:
        interval = f" [{self.low:.2f}, {self.high:.2f}]" if self.low is not None else ""
        return f"{self.value:.2f}{interval}"


def recorded_auc(results_root, run: RunKey, seeds: int | None) -> Auc | None:
    """The AUC ``run``'s training runs measured on the similarities they trained with (``run.json``'s
    ``similarity.auc_within_answers``, copied into ``eval.json``): mean over seeds; the interval spans
    the seeds' own (bootstrap over answers), from the lowest low to the highest high."""
    found = seed_results(results_root, run, seeds)
    records = [auc for auc in map(_training_auc, found) if auc is not None]
    if not records:
        return None
    values = [record["value"] for record in records]
    low, high = min(r["ci95"][0] for r in records), max(r["ci95"][1] for r in records)
    answers = sorted({record.get("answers") for record in records if record.get("answers")})
    within = f", {'/'.join(map(str, answers))} answers" if answers else ""
    return Auc(float(np.mean(values)), low, high, f"training records (mean over {len(records)} seed(s){within})")


def _training_auc(result) -> dict | None:
    similarity = ((result.extra or {}).get("training") or {}).get("similarity") or {}
    auc = similarity.get("auc_within_answers")
    return auc if isinstance(auc, dict) and auc.get("value") is not None else None


def diagnosed_auc(diagnosis: dict | None, method: Method) -> Auc | None:
    """The preference diagnosis' AUC of the weights that carry ``method``'s label (S, P, S+P), when those
    are the weights ``method`` trains with: the data's own similarities, or those of the scorer it
    scores again with where the diagnosis measured that one too (``weights_by_scorer``); no verdicts."""
    if diagnosis is None or method.uses_judge:
        return None
    if method.uses_similarity and diagnosis.get("similarity"):
        return None  # that diagnosis measured another scorer's similarities
    weights = diagnosis.get("weights") or {}
    if method.recomputes_similarity:
        weights = (diagnosis.get("weights_by_scorer") or {}).get(method.scorer)
        if weights is None:
            return None
    label = weight_label(method)
    for measured in weighted_methods():
        if weight_label(measured) != label or measured.unit != method.unit:
            continue
        entry = (weights.get(measured.name) or {}).get("auc_within_answer") or {}
        if entry.get("value") is not None:
            low, high = entry["ci95"]
            return Auc(entry["value"], low, high, f"preference diagnosis ({label} weights, {entry.get('answers')} answers)")
    return None


def constructed_auc(method: Method) -> Auc | None:
    """The judge's exact verdicts rank every correct sentence above every hallucinated one: AUC 1."""
    options = method.aspo_options
    if method.uses_judge and options is not None and not options.verdict_flip:
        return Auc(1.0, None, None, "by construction (the judge's exact verdicts)")
    return None
