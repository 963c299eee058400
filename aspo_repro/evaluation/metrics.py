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
# Every metric of the project's tasks, and of lmms-eval's paper tasks, is a ratio of sums over its
# items: accuracy sum(right) / sum(1), SHR sum(hallucinated) / sum(judged), F1 sum(2 tp) /
# sum(2 tp + fp + fn), circular accuracy per question, LLaVA-W sum(model's judge score) / sum(the
# reference answer's). Kept per item as (numerator, denominator), a result can be resampled item by
# item (the bootstrap of ``aspo_repro.intervals``) without its raw outputs. The lmms-eval entries read
# the records its tasks' ``process_results`` log, by the rule of their aggregation
# (``lmms_eval/tasks/<task>/utils.py``); MM-Vet, MMBench and LLaVA-W report on 0-100 (``PERCENT``).

Ratio = tuple[float, float]
PERCENT = 100.0
# lmms-eval's MMBench numbers a question's k-th rotation of its options index + k * ROTATION_OFFSET
ROTATION_OFFSET = 1_000_000
CIRCULAR_HIT = "circular_hit"  # the verdict the runner adds to MMBench's logged records (evaluation/verdicts.py)


def f1_item(said: str, truth: str) -> Ratio:
    """One answer's share of F1 = 2tp / (2tp + fp + fn): a true positive (2, 2), a false yes or a
    false no (0, 1), anything else, a true negative or an answer that is neither yes nor no, (0, 0)."""
    if said == YES:
        return (2.0, 2.0) if truth == YES else (0.0, 1.0)
    return (0.0, 1.0) if said == NO and truth == YES else (0.0, 0.0)


def pope_items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
    """Per question of a project task, where an answer that is not yes counts as no."""
    return [f1_item(YES if record["prediction"] == YES else NO, record["answer"]) for record in records]


def lmms_pope_items(records: Iterable[Mapping[str, str]]) -> list[Ratio]:
    """Per question of lmms-eval's POPE (``pope_aggregate_f1_score``: 2PR / (P + R), which is
    2tp / (2tp + fp + fn)), where only the logged predictions "yes" and "no" count."""
    return [f1_item(record["prediction"], record["ground_truth"]) for record in records]


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


# One entry per metric; a benchmark names its entry (``Benchmark.item_rule``).
ITEM_RATIOS = {
    "pope_f1": pope_items,
    "shr": shr_items,
    "correct_per_image": count_items("correct"),
    "hallucinated_per_image": count_items("hallucinated"),
    "exact_match": accuracy_items,
    "circular_accuracy": circular_items,
    "pope_f1_score": lmms_pope_items,
    "seed_image": choice_items,
    "mmvet_score": judge_score_items,
    "mmbench_circular": circular_verdict_items,
    "gpt_eval_llava_all": relative_score_items,
}


def ratio_of_sums(items: Iterable[Ratio]) -> float:
    """A metric from its items; NaN when every denominator is 0."""
    numerator = denominator = 0.0
    for num, den in items:
        numerator += num
        denominator += den
    return numerator / denominator if denominator else float("nan")
