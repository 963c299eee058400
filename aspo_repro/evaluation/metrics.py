"""The metrics of the project's own tasks, as pure functions of per-answer records.

lmms-eval calls a task's ``process_results`` once per document and an aggregation once per
task over the records; both live here so that they are tested without a model. Values are
fractions (0-1), like lmms-eval's own tasks; the registry's ``scale`` brings them to 0-100.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

YES, NO, OTHER = "yes", "no", "other"


@dataclass(frozen=True)
class YesNoCounts:
    """Confusion counts of yes/no answers; an answer that is neither counts as not-yes."""

    true_pos: int
    false_pos: int
    true_neg: int
    false_neg: int
    unparsed: int  # answers that were neither yes nor no (also in false_neg / true_neg)

    @property
    def total(self) -> int:
        return self.true_pos + self.false_pos + self.true_neg + self.false_neg

    @property
    def precision(self) -> float:
        said_yes = self.true_pos + self.false_pos
        return self.true_pos / said_yes if said_yes else 0.0

    @property
    def recall(self) -> float:
        positives = self.true_pos + self.false_neg
        return self.true_pos / positives if positives else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.true_pos + self.false_pos + self.false_neg
        return 2 * self.true_pos / denominator if denominator else 0.0

    @property
    def accuracy(self) -> float:
        return (self.true_pos + self.true_neg) / self.total if self.total else 0.0

    @property
    def yes_ratio(self) -> float:
        """The share of answers that are "yes" (POPE's yes-ratio: a model biased to yes scores high)."""
        return (self.true_pos + self.false_pos) / self.total if self.total else 0.0


def yes_no_counts(records: Iterable[Mapping[str, str]]) -> YesNoCounts:
    """Counts from records ``{"prediction": yes|no|other, "answer": yes|no}``."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "unparsed": 0}
    for record in records:
        said_yes = record["prediction"] == YES
        counts["unparsed"] += record["prediction"] == OTHER
        if record["answer"] == YES:
            counts["tp" if said_yes else "fn"] += 1
        else:
            counts["fp" if said_yes else "tn"] += 1
    return YesNoCounts(counts["tp"], counts["fp"], counts["tn"], counts["fn"], counts["unparsed"])


def circular_accuracy(records: Iterable[Mapping[str, object]]) -> float:
    """MMBench's circular evaluation: a question counts only if every rotation of its
    options was answered correctly. Records are ``{"question_id", "correct"}``, one per rotation."""
    by_question: dict[object, bool] = defaultdict(lambda: True)
    for record in records:
        by_question[record["question_id"]] &= bool(record["correct"])
    return sum(by_question.values()) / len(by_question) if by_question else 0.0


@dataclass(frozen=True)
class HallucinationCounts:
    hallucinated: int
    judged: int  # sentences the judge could classify (SHR's denominator)
    sentences: int  # all sentences, judged or not

    @property
    def ratio(self) -> float | None:
        """SHR: hallucinated sentences / judged sentences, summed over all descriptions
        (HA-DPO's ``hal_sents_ratio``); None when no sentence could be judged."""
        return self.hallucinated / self.judged if self.judged else None


def hallucination_counts(records: Iterable[Mapping[str, int]]) -> HallucinationCounts:
    """Sums of per-description records ``{"hallucinated", "judged", "sentences"}``."""
    totals = {"hallucinated": 0, "judged": 0, "sentences": 0}
    for record in records:
        for key in totals:
            totals[key] += int(record[key])
    return HallucinationCounts(totals["hallucinated"], totals["judged"], totals["sentences"])


def shr_ratio(records: Iterable[Mapping[str, int]]) -> float:
    """The aggregation lmms-eval calls; NaN when no sentence was judgeable (never a fake 0)."""
    ratio = hallucination_counts(records).ratio
    return float("nan") if ratio is None else ratio


def sentences_per_description(records: Iterable[Mapping[str, int]], key: str) -> float:
    """The mean number of sentences labelled ``key`` (``correct``, ``hallucinated``) per description:
    beside SHR, it tells whether SHR fell because hallucinated sentences went or correct ones came."""
    records = list(records)
    return sum(int(record[key]) for record in records) / len(records) if records else float("nan")


# ----------------------------------------------------------------------------- item ratios
# Every metric of the project's tasks is a ratio of sums over its items: accuracy sum(right) /
# sum(1), SHR sum(hallucinated) / sum(judged), F1 sum(2 tp) / sum(2 tp + fp + fn), circular accuracy
# per question. Kept per item as (numerator, denominator), a result can be resampled item by item
# (the bootstrap of ``aspo_repro.intervals``) without its raw outputs.

Ratio = tuple[float, float]


def pope_items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
    """Per question: a true positive (2, 2), a false positive or negative (0, 1), a true negative (0, 0)."""
    items = []
    for record in records:
        said_yes, is_yes = record["prediction"] == YES, record["answer"] == YES
        items.append((2.0, 2.0) if said_yes and is_yes else (0.0, 1.0) if said_yes != is_yes else (0.0, 0.0))
    return items


def shr_items(records: Iterable[Mapping[str, int]]) -> list[Ratio]:
    """Per description: (hallucinated, judged) sentences."""
    return [(float(record["hallucinated"]), float(record["judged"])) for record in records]


def count_items(key: str):
    def items(records: Iterable[Mapping[str, int]]) -> list[Ratio]:
        """Per description: (sentences labelled ``key``, 1)."""
        return [(float(record[key]), 1.0) for record in records]

    return items


def accuracy_items(values: Iterable[float]) -> list[Ratio]:
    """Per question: (its score, 1)."""
    return [(float(value), 1.0) for value in values]


def circular_items(records: Iterable[Mapping[str, object]]) -> list[Ratio]:
    """Per question, in order of first appearance: (1 if every rotation was right else 0, 1)."""
    by_question: dict[object, bool] = {}
    for record in records:
        by_question[record["question_id"]] = by_question.get(record["question_id"], True) and bool(record["correct"])
    return [(float(right), 1.0) for right in by_question.values()]


ITEM_RATIOS = {
    "pope_f1": pope_items,
    "shr": shr_items,
    "correct_per_image": count_items("correct"),
    "hallucinated_per_image": count_items("hallucinated"),
    "exact_match": accuracy_items,
    "circular_accuracy": circular_items,
}


def ratio_of_sums(items: Iterable[Ratio]) -> float:
    """A metric from its items; NaN when every denominator is 0."""
    numerator = denominator = 0.0
    for num, den in items:
        numerator += num
        denominator += den
    return numerator / denominator if denominator else float("nan")
