"""Per-question agreement between the paper path and the project's exact mini evaluation.

Both paths log every sample (lmms-eval's ``samples``, kept in each raw output). For each
benchmark this module reads, from each path's samples, the answer that path's own rule
extracted from the model's response (:class:`Answer`), pairs the two paths' answers to the
same mini question, and summarises: how many responses and extracted answers are identical,
and the two scores. Extraction follows each task's code:

============  ===========================================  =======================================
benchmark     paper path (lmms-eval's rule)                project's own (mini task)
============  ===========================================  =======================================
POPE          the whole response, lower-cased: yes/no      first word yes/no (``parse_yes_no``)
GQA           lower-cased, punctuation removed             ``normalise_short_answer``
SQA-I         a lone letter, or ``X.`` at the start        mini-MMB's ``parse_option`` (rotation 0)
SEED-I        the response's first character               mini-MMB's ``parse_option`` (rotation 0)
MMBench       ``can_infer`` (letter, else one option's     mini-MMB's ``parse_option`` (letter,
              text inside the answer), else the judge      else the option the answer is)
              (the exact judge: ``parse_option``)
SHR           the judge's label per HA-DPO sentence        the rule judge per pysbd sentence
============  ===========================================  =======================================

Pure functions of logged samples: no model, no lmms-eval run.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal.hub_schemas import LETTERS

NONE = "(none)"  # an answer the rule could not extract

# Where the paper path's rule reads a response otherwise than the mini rule, by design: a
# disagreement on the same response is explained by one of these, or it is a defect.
BARE_YES_NO = ("not a bare yes/no: lmms-eval counts only 'yes'/'no' (LLaVA-1.5's eval_pope: yes unless "
               "no/not), the mini rule reads the first word")
NUMBER_WORDS = "a number word: the mini rule reads it as a digit, lmms-eval's exact match does not"
LETTER_ONLY = "lmms-eval reads an option letter only; the mini rule also reads the option's text"
TEXT_INSIDE = ("MMBench's can_infer_text: the one option whose text lies inside the answer; the mini rule "
               "needs the answer to be the option")
HA_DPO_SPLIT = ("HA-DPO's split (at full stops, repeated sentences dropped) cuts this response otherwise "
                "than pysbd")
RULE_NAMES = {BARE_YES_NO: "bare yes/no", NUMBER_WORDS: "number words", LETTER_ONLY: "letter only",
              TEXT_INSIDE: "option text inside", HA_DPO_SPLIT: "HA-DPO split"}


@dataclass(frozen=True)
class Answer:
    """One question as one path answered it."""

    key: str  # the mini question (``id`` or ``id#rotation``)
    response: str  # the model's text as the task's scorer read it
    parsed: Any  # the answer the path's rule extracted (JSON-able)
    rule: str | None = None  # a reading of this response the other path's rule does not share (above)


def response_of(sample: dict[str, Any]) -> str:
    """The filtered response lmms-eval scored."""
    responses = sample.get("filtered_resps") or sample.get("resps") or [""]
    first = responses[0]
    return first[0] if isinstance(first, list) else str(first)


# ----------------------------------------------------------------------------- paper path (lmms-eval rules)

def paper_pope(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    """The prediction lmms-eval scored (the protocol's reading of the response); only yes/no count."""
    def parsed(sample):
        prediction = sample["pope_f1_score"]["prediction"]
        return prediction if prediction in ("yes", "no") else NONE

    def rule(sample):
        return None if response_of(sample).lower().strip() in ("yes", "no") else BARE_YES_NO
    return [Answer(s["doc"]["question_id"], response_of(s), parsed(s), rule(s)) for s in samples]


def paper_gqa(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    from aspo_repro.miniworld.lexicon import NUMBER_WORDS as WORDS

    table = str.maketrans("", "", string.punctuation)  # lmms-eval's exact_match: ignore case and punctuation

    def answer(sample):
        text = response_of(sample).lower().translate(table)
        return Answer(sample["doc"]["id"], response_of(sample), text,
                      NUMBER_WORDS if set(text.split()) & set(WORDS) else None)
    return [answer(s) for s in samples]


def sqa_letter(response: str, options: int) -> str:
    """ScienceQA's rule (``sqa_process_results``): the response is a letter, or starts ``X.``."""
    text = response.strip()
    if text.upper() in LETTERS[:options] and len(text) == 1:
        return text.upper()
    if len(text) >= 2 and text[0].isupper() and text[1] == ".":
        return text[0]
    return NONE


def paper_sqa(samples: Sequence[dict], ids: Sequence[str]) -> list[Answer]:
    """ScienceQA has no id column: row ``doc_id`` is the ``doc_id``-th mini-MMB question."""
    return [Answer(f"{ids[int(s['doc_id'])]}#0", response_of(s), sqa_letter(response_of(s), len(s["doc"]["choices"])),
                   LETTER_ONLY) for s in samples]


def seed_letter(response: str) -> str:
    """SEED-Bench's rule (``seed_process_result``): the response's first character, compared
    case-blind with the answer letter."""
    first = response.strip()[:1].upper()
    return first if first and first in LETTERS else NONE


def paper_seed(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    return [Answer(f"{s['doc']['question_id']}#0", response_of(s), seed_letter(response_of(s)), LETTER_ONLY)
            for s in samples]


MMBENCH_MODULE = "lmms_eval.tasks.mmbench"


def mmbench_letter(response: str, doc: dict[str, Any]) -> str:
    """lmms-eval's MMBench extraction of one row: its rules (``MMBench_Evaluator.can_infer``),
    else what the exact judge answers (``exact_judge``: the option the answer is, else E)."""
    return mmbench_reading(response, doc)[0]


def mmbench_reading(response: str, doc: dict[str, Any]) -> tuple[str, str | None]:
    """(the letter lmms-eval's MMBench extraction reads, TEXT_INSIDE where its text rule picked an
    option the answer is not)."""
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    from aspo_repro.miniworld.judge import normalise_short_answer, parse_option

    choices = {c: doc[c] for c in LETTERS if doc.get(c) is not None}
    evaluator = MMBench_Evaluator()
    found = evaluator.can_infer(response, dict(choices))
    if found:
        by_text = not evaluator.can_infer_option(response)
        inside = by_text and normalise_short_answer(str(choices.get(found, ""))) != normalise_short_answer(response)
        return (found if found in choices else NONE), (TEXT_INSIDE if inside else None)
    index = parse_option(response, list(choices.values()))
    return (NONE if index is None else list(choices)[index]), None


def paper_mmbench(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    from loguru import logger

    def answer(sample):
        letter, rule = mmbench_reading(response_of(sample).strip(), sample["doc"])
        key = f"{sample['doc']['source']}#{int(sample['doc']['index']) // ROTATION_OFFSET}"
        return Answer(key, response_of(sample), letter, rule)
    logger.disable(MMBENCH_MODULE)  # its notes on each answer were logged when lmms-eval scored them
    try:
        return [answer(s) for s in samples]
    finally:
        logger.enable(MMBENCH_MODULE)


def verdict_list(record: dict[str, Any]) -> list[list[str]]:
    """An SHR record's verdicts, each sentence compared without case, spacing or its full stop."""
    return [[" ".join(str(sentence).lower().split()).rstrip("."), str(label)] for sentence, label in record["verdicts"]]


def paper_shr(samples: Sequence[dict], ids: Sequence[str]) -> list[Answer]:
    """SHR documents are numbered 1000 + the mini-SHR question's position (``mini_datasets``)."""
    from aspo_repro.evaluation.shr import split_like_ha_dpo
    from aspo_repro.rehearsal.mini_datasets import SHR_IMAGE_ID_BASE
    from aspo_repro.segmentation import split_sentences

    def rule(response):
        ours = [" ".join(s.lower().split()).rstrip(".") for s in split_like_ha_dpo(response)]
        return None if ours == [" ".join(s.lower().split()).rstrip(".") for s in split_sentences(response)] else HA_DPO_SPLIT
    return [Answer(ids[int(s["doc"]["id"]) - SHR_IMAGE_ID_BASE], response_of(s), verdict_list(s["shr"]),
                   rule(response_of(s))) for s in samples]


# ----------------------------------------------------------------------------- project's own (mini rules)

def mini_pope(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    def parsed(sample):
        prediction = sample["pope_f1"]["prediction"]
        return prediction if prediction in ("yes", "no") else NONE
    return [Answer(s["doc"]["id"], response_of(s), parsed(s)) for s in samples]


def mini_gqa(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    from aspo_repro.miniworld.judge import normalise_short_answer

    return [Answer(s["doc"]["id"], response_of(s), normalise_short_answer(response_of(s))) for s in samples]


def mini_mmb(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    def parsed(sample):
        choice = sample["circular_accuracy"]["prediction"]
        return NONE if choice is None else LETTERS[int(choice)]
    return [Answer(s["doc"]["id"], response_of(s), parsed(s)) for s in samples]


def mini_mmb_first_rotation(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    """mini-MMB's answers to the options in their stored order (what SEED and ScienceQA ask)."""
    return [a for a in mini_mmb(samples) if a.key.endswith("#0")]


def mini_shr(samples: Sequence[dict], ids: Sequence[str] = ()) -> list[Answer]:
    return [Answer(s["doc"]["id"], response_of(s), verdict_list(s["shr"])) for s in samples]


# ----------------------------------------------------------------------------- pairing

Extract = Callable[[Sequence[dict], Sequence[str]], list[Answer]]


@dataclass(frozen=True)
class Pairing:
    """How one paper benchmark's answers meet the mini benchmark asking the same questions."""

    paper: str  # the paper benchmark (registry name)
    mini: str  # the mini benchmark whose run answers them
    paper_answers: Extract
    mini_answers: Extract
    ids: str | None = None  # the mini file whose ids number the paper rows, where the schema has none


def pair(paper: Iterable[Answer], mini: Iterable[Answer]) -> list[tuple[Answer, Answer]]:
    """The two paths' answers to each question both answered, in the paper path's order."""
    own = {answer.key: answer for answer in mini}
    return [(answer, own[answer.key]) for answer in paper if answer.key in own]


@dataclass(frozen=True)
class Agreement:
    items: int
    same_response: int
    same_parsed: int
    same_parsed_given_same_response: int
    unpaired: int  # paper answers with no mini answer to the same question
    explained: dict[str, int]  # disagreements on the same response, by the rule difference behind them
    unexplained: int  # disagreements on the same response that no rule difference explains: defects
    examples: tuple[dict[str, Any], ...]  # a few disagreements, for the explanations

    def share(self, count: int, of: int | None = None) -> float | None:
        total = self.items if of is None else of
        return None if total == 0 else 100.0 * count / total

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "unpaired": self.unpaired, "explained": dict(self.explained),
                "unexplained": self.unexplained,
                "same_response_pct": self.share(self.same_response),
                "same_parsed_pct": self.share(self.same_parsed),
                "same_parsed_where_same_response_pct": self.share(self.same_parsed_given_same_response,
                                                                  self.same_response),
                "examples": list(self.examples)}


def agreement(paper: Sequence[Answer], mini: Sequence[Answer], examples: int = 3) -> Agreement:
    pairs = pair(paper, mini)
    same_response = [p.response.strip() == m.response.strip() for p, m in pairs]
    same_parsed = [p.parsed == m.parsed for p, m in pairs]
    shown = [{"question": p.key, "paper_response": p.response, "paper_parsed": p.parsed,
              "own_response": m.response, "own_parsed": m.parsed, "rule": p.rule}
             for (p, m), same in zip(pairs, same_parsed) if not same][:examples]
    explained: dict[str, int] = {}
    unexplained = 0
    for (p, _), response, parsed in zip(pairs, same_response, same_parsed):
        if response and not parsed:
            if p.rule is None:
                unexplained += 1
            else:
                explained[p.rule] = explained.get(p.rule, 0) + 1
    return Agreement(items=len(pairs), same_response=sum(same_response), same_parsed=sum(same_parsed),
                     same_parsed_given_same_response=sum(r and s for r, s in zip(same_response, same_parsed)),
                     unpaired=len(list(paper)) - len(pairs), explained=explained, unexplained=unexplained,
                     examples=tuple(shown))


def samples_of(raw_output: dict[str, Any], tasks: Iterable[str]) -> list[dict]:
    """The logged samples of ``tasks`` in one raw lmms-eval output, in task order."""
    logged = raw_output.get("samples") or {}
    return [sample for task in tasks for sample in logged.get(task, [])]


def first_rotation_accuracy(samples: Sequence[dict]) -> float | None:
    """mini-MMB's accuracy on the options in their stored order, x 100 (the project's own
    score of the questions SEED and ScienceQA ask)."""
    firsts = [s for s in samples if s["doc"]["id"].endswith("#0")]
    if not firsts:
        return None
    return 100.0 * sum(bool(s["circular_accuracy"]["correct"]) for s in firsts) / len(firsts)
