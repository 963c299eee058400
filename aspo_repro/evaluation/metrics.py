"""Every metric the project computes or resamples, each defined once, as a ratio of sums over items.

A metric is ``items(records) -> [(numerator, denominator), ...]``, one pair per item (an answer, a
description, a question over its rotations): its score is sum(numerators) / sum(denominators), and
the pairs themselves are what a result keeps so that it can be resampled item by item (the bootstrap
of ``aspo_repro.intervals``) without its raw outputs. Accuracy is sum(right) / sum(1), SHR
sum(hallucinated) / sum(judged), F1 sum(2 tp) / sum(2 tp + fp + fn), circular accuracy per question,
LLaVA-W sum(model's judge score) / sum(the reference answer's).

The project's own tasks score with ``Metric.score`` (lmms-eval calls a task's ``process_results``
once per document and its aggregation once per task over the records; both are pure functions here,
tested without a model). lmms-eval's paper tasks score with lmms-eval's own aggregation; their entries
read the records those tasks log, by the rule of that aggregation (``lmms_eval/tasks/<task>/utils.py``).
Values are fractions (0-1), like lmms-eval's own tasks (the registry's ``scale`` brings them to
0-100), except MM-Vet, MMBench and LLaVA-W, which lmms-eval reports on 0-100 (``PERCENT``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

YES, NO, OTHER = "yes", "no", "other"

Ratio = tuple[float, float]
PERCENT = 100.0
# lmms-eval's MMBench numbers a question's k-th rotation of its options index + k * ROTATION_OFFSET
ROTATION_OFFSET = 1_000_000
CIRCULAR_HIT = "circular_hit"  # the verdict the runner adds to MMBench's logged records (evaluation/verdicts.py)


def ratio_of_sums(items: Iterable[Ratio], undefined: float = float("nan")) -> float:
    """A metric from its items; ``undefined`` (NaN unless the metric says otherwise) when every denominator is 0."""
    numerator = denominator = 0.0
    for num, den in items:
        numerator += num
        denominator += den
    return numerator / denominator if denominator else undefined


@dataclass(frozen=True)
class Metric:
    """One metric: its items, and its score as their ratio of sums."""

    items: Callable[[Iterable[Any]], list[Ratio]]
    # the score when no item counts in the denominator: 0 where lmms-eval's convention says so (F1 of
    # an answerer that never says yes), else NaN (SHR without a judgeable sentence: never a fake 0)
    undefined: float = float("nan")

    def score(self, records: Iterable[Any]) -> float:
        return ratio_of_sums(self.items(records), self.undefined)


# ----------------------------------------------------------------------------- yes/no answers

def f1_item(said: str, truth: str) -> Ratio:
    """One answer's share of F1 = 2tp / (2tp + fp + fn): a true positive (2, 2), a false yes or a
    false no (0, 1), anything else, a true negative or an answer that is neither yes nor no, (0, 0)."""
    if said == YES:
        return (2.0, 2.0) if truth == YES else (0.0, 1.0)
    return (0.0, 1.0) if said == NO and truth == YES else (0.0, 0.0)


def yes_no_items(item: Callable[[bool, bool], Ratio]) -> Callable[[Iterable[Mapping[str, str]]], list[Ratio]]:
    """The items of a project task's records ``{"prediction": yes|no|other, "answer": yes|no}``, each
    ``item(said_yes, truly_yes)``: an answer that is not "yes" counts as no."""
    def items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
        return [item(record["prediction"] == YES, record["answer"] == YES) for record in records]

    return items


def _f1(said_yes: bool, truly_yes: bool) -> Ratio:
    return f1_item(YES if said_yes else NO, YES if truly_yes else NO)


def _precision(said_yes: bool, truly_yes: bool) -> Ratio:
    return (float(truly_yes), 1.0) if said_yes else (0.0, 0.0)


def _recall(said_yes: bool, truly_yes: bool) -> Ratio:
    return (float(said_yes), 1.0) if truly_yes else (0.0, 0.0)


def _accuracy(said_yes: bool, truly_yes: bool) -> Ratio:
    return float(said_yes == truly_yes), 1.0


def _yes_share(said_yes: bool, truly_yes: bool) -> Ratio:
    """POPE's yes-ratio: a model biased to yes scores high."""
    return float(said_yes), 1.0


POPE_F1 = Metric(yes_no_items(_f1), undefined=0.0)
POPE_PRECISION = Metric(yes_no_items(_precision), undefined=0.0)
POPE_RECALL = Metric(yes_no_items(_recall), undefined=0.0)
POPE_ACCURACY = Metric(yes_no_items(_accuracy), undefined=0.0)
POPE_YES_RATIO = Metric(yes_no_items(_yes_share), undefined=0.0)


def lmms_pope_items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
    """Per question of lmms-eval's POPE (``pope_aggregate_f1_score``: 2PR / (P + R), which is
    2tp / (2tp + fp + fn)), where only the logged predictions "yes" and "no" count."""
    return [f1_item(record["prediction"], record["ground_truth"]) for record in records]


# ----------------------------------------------------------------------------- descriptions (SHR)

def shr_items(records: Iterable[Mapping[str, int]]) -> list[Ratio]:
    """Per description ``{"hallucinated", "judged", ...}``: (hallucinated, judged) sentences, so that SHR
    is hallucinated / judged sentences summed over all descriptions (HA-DPO's ``hal_sents_ratio``)."""
    return [(float(record["hallucinated"]), float(record["judged"])) for record in records]


def count_items(key: str) -> Callable[[Iterable[Mapping[str, int]]], list[Ratio]]:
    """Per description: (sentences labelled ``key``, 1): the mean number per description, which tells,
    beside SHR, whether SHR fell because hallucinated sentences went or correct ones came."""
    def items(records: Iterable[Mapping[str, int]]) -> list[Ratio]:
        return [(float(record[key]), 1.0) for record in records]

    return items


SHR = Metric(shr_items)
CORRECT_PER_IMAGE = Metric(count_items("correct"))
HALLUCINATED_PER_IMAGE = Metric(count_items("hallucinated"))


# ----------------------------------------------------------------------------- questions

def accuracy_items(values: Iterable[float]) -> list[Ratio]:
    """Per question: (its score, 1)."""
    return [(float(value), 1.0) for value in values]


def circular_items(records: Iterable[Mapping[str, object]]) -> list[Ratio]:
    """MMBench's circular evaluation on records ``{"question_id", "correct"}``, one per rotation: per
    question, in order of first appearance, (1 if every rotation of its options was right else 0, 1)."""
    by_question: dict[object, bool] = {}
    for record in records:
        by_question[record["question_id"]] = by_question.get(record["question_id"], True) and bool(record["correct"])
    return [(float(right), 1.0) for right in by_question.values()]


CIRCULAR_ACCURACY = Metric(circular_items, undefined=0.0)


def choice_items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
    """Per question of lmms-eval's SEED-Bench (``seed_aggregation_result``): (1 if the logged letter
    is the answer's, case and spaces aside, else 0, 1)."""
    return accuracy_items(record["pred"].lower().strip() == record["answer"].lower().strip() for record in records)


def judge_score_items(records: Iterable[Mapping[str, float]]) -> list[Ratio]:
    """Per question of lmms-eval's MM-Vet (``mmvet_aggregate_results``): (100 x its judge score in [0, 1], 1)."""
    return [(PERCENT * float(record["score"]), 1.0) for record in records]


def circular_verdict_items(records: Iterable[Mapping[str, object]]) -> list[Ratio]:
    """Per question of lmms-eval's MMBench (``MMBench_Evaluator.eval_result``), in index order:
    (100 if it counted as right, every rotation answered right, else 0, 1). lmms-eval's rules and
    GPT judge decide that at aggregation without logging it: the runner adds it to each rotation's
    record as ``CIRCULAR_HIT`` (``evaluation/verdicts.py``; None: a rotation lmms-eval did not score)."""
    verdicts = {int(record["index"]) % ROTATION_OFFSET: record[CIRCULAR_HIT] for record in records}
    return [(PERCENT * float(verdicts[question]), 1.0) for question in sorted(verdicts)
            if verdicts[question] is not None]


def relative_score_items(records: Iterable[Mapping[str, object]]) -> list[Ratio]:
    """Per question of lmms-eval's LLaVA-Bench in the wild (``llava_aggregation``: mean of the model's
    judge scores / mean of the reference answer's, x 100): (100 x the model's score, the reference's).
    A failed review is logged [-1, -1] and counted, as lmms-eval counts it; -999 marks another category."""
    scores = (record["scores"] for record in records)
    return [(PERCENT * float(model), float(reference)) for reference, model in scores if -999 not in (reference, model)]


# One entry per metric a benchmark is resampled by (``Benchmark.item_rule`` names its entry).
METRICS = {
    "pope_f1": POPE_F1,
    "shr": SHR,
    "correct_per_image": CORRECT_PER_IMAGE,
    "hallucinated_per_image": HALLUCINATED_PER_IMAGE,
    "exact_match": Metric(accuracy_items),
    "circular_accuracy": CIRCULAR_ACCURACY,
    "pope_f1_score": Metric(lmms_pope_items),
    "seed_image": Metric(choice_items),
    "mmvet_score": Metric(judge_score_items),
    "mmbench_circular": Metric(circular_verdict_items),
    "gpt_eval_llava_all": Metric(relative_score_items),
}
