"""Are the pairs real? In the mini world every sentence is judged against the scene's ground truth,
so the claim behind the SeVa pipeline (answers to a noised image hallucinate more) is measured.

For each side of the kept pairs: judged sentences, hallucinated ones, the sentence-level rate
(mini-SHR's definition), the false sentences by reason (an absent object, a wrong attribute,
position, relation, count or existence) and the share of answers with at least one hallucinated
sentence; per pair, which side holds more hallucinated sentences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SideTally:
    answers: int = 0
    answers_judged: int = 0  # answers with at least one judged sentence
    answers_hallucinating: int = 0
    sentences: int = 0
    judged: int = 0
    hallucinated: int = 0
    by_reason: Counter = field(default_factory=Counter)  # why sentences are false (judge.REASONS)

    def add(self, verdicts) -> None:
        """Count one answer's per-sentence verdicts (``judge.judge_description``)."""
        judged = sum(v.hallucinated is not None for v in verdicts)
        hallucinated = sum(bool(v.hallucinated) for v in verdicts)
        self.by_reason.update(v.reason for v in verdicts if v.hallucinated)
        self.answers += 1
        self.answers_judged += judged > 0
        self.answers_hallucinating += hallucinated > 0
        self.sentences += len(verdicts)
        self.judged += judged
        self.hallucinated += hallucinated

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "by_reason": dict(sorted(self.by_reason.items())),
            "sentence_hallucination_rate": self.hallucinated / self.judged if self.judged else None,
            "answers_hallucinating_share": (self.answers_hallucinating / self.answers_judged
                                            if self.answers_judged else None),
        }


def hallucination_report(rows: Iterable[dict[str, Any]], scene_of: Callable[[str], Any]) -> dict[str, Any]:
    """Ground-truth hallucination of the chosen and rejected answers of ``rows`` (``id``, ``chosen``,
    ``rejected``); ``scene_of(id)`` is the pair's scene."""
    from aspo_repro.miniworld.judge import judge_description

    sides = {"chosen": SideTally(), "rejected": SideTally()}
    comparison = {"rejected_more": 0, "chosen_more": 0, "equal": 0}
    for row in rows:
        scene = scene_of(row["id"])
        hallucinated = {}
        for side, tally in sides.items():
            verdicts = judge_description(row[side], scene)
            tally.add(verdicts)
            hallucinated[side] = sum(bool(v.hallucinated) for v in verdicts)
        comparison[_which_more(hallucinated["chosen"], hallucinated["rejected"])] += 1
    return {
        "judge": "aspo_repro.miniworld.judge (exact rules against the scene)",
        "pairs": sides["chosen"].answers,
        "chosen": sides["chosen"].summary(),
        "rejected": sides["rejected"].summary(),
        "pairs_by_more_hallucinated_sentences": comparison,
    }


def _which_more(chosen: int, rejected: int) -> str:
    if rejected > chosen:
        return "rejected_more"
    if chosen > rejected:
        return "chosen_more"
    return "equal"
