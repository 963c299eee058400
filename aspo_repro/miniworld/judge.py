"""The exact rule judge: is a sentence about a scene true, false (hallucinated) or unjudgeable?

The world's grammar (``grammar.py``) makes every sentence checkable against the scene's object
list, so mini-SHR needs no GPT judge. A false sentence carries a reason:

- ``object``: it mentions a shape the scene does not hold (an object hallucination);
- ``attribute``: the shape is there but its colour (or a stated size) is wrong;
- ``position``: the object is in another cell; ``relation``: the spatial relation is false;
- ``count``: the number of objects is wrong; ``existence``: it denies a present object.

Also here: the answer parsers the benchmarks share (yes/no, option letters, short answers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.miniworld.grammar import Claim
from aspo_repro.miniworld.scene import Scene
from aspo_repro.segmentation import split_sentences

REASONS = ("object", "attribute", "position", "relation", "count", "existence")


@dataclass(frozen=True)
class Verdict:
    sentence: str
    hallucinated: bool | None  # None: not a sentence of the world's grammar
    reason: str | None = None  # why it is false (one of REASONS), None when true or unjudged


def falsity_reason(claim: Claim, scene: Scene) -> str | None:
    """Why ``claim`` is false about ``scene`` (one of REASONS), or None when it is true."""
    return _CHECKS[claim.kind](claim, scene)


def _check_count(claim: Claim, scene: Scene) -> str | None:
    return None if claim.count == len(scene.objects) else "count"


def _check_object(claim: Claim, scene: Scene) -> str | None:
    obj = scene.find(claim.shape)
    if obj is None:
        return "object"
    if obj.colour != claim.colour or claim.size not in (None, obj.size):
        return "attribute"
    return None if obj.cell == claim.cell else "position"


def _check_relation(claim: Claim, scene: Scene) -> str | None:
    first, second = scene.find(claim.shape), scene.find(claim.other_shape)
    if first is None or second is None:
        return "object"
    if first.colour != claim.colour or second.colour != claim.other_colour:
        return "attribute"
    holds = {
        "to the left of": first.column < second.column,
        "to the right of": first.column > second.column,
        "above": first.row < second.row,
        "below": first.row > second.row,
    }[claim.relation]
    return None if holds else "relation"


def _check_yes(claim: Claim, scene: Scene) -> str | None:
    obj = scene.find(claim.shape)
    if obj is None:
        return "object"
    return None if obj.colour == claim.colour else "attribute"


def _check_no(claim: Claim, scene: Scene) -> str | None:
    return "existence" if claim.shape in scene.shapes else None


_CHECKS = {
    grammar.COUNT: _check_count,
    grammar.OBJECT: _check_object,
    grammar.RELATION: _check_relation,
    grammar.YES: _check_yes,
    grammar.NO: _check_no,
}


def judge_sentence_verdict(sentence: str, scene: Scene) -> Verdict:
    claim = grammar.parse_sentence(sentence)
    if claim is None:
        return Verdict(sentence, None)
    reason = falsity_reason(claim, scene)
    return Verdict(sentence, reason is not None, reason)


def judge_sentence(sentence: str, scene: Scene) -> bool | None:
    """True when ``sentence`` is hallucinated (false about ``scene``), False when it is
    correct, None when it is not a sentence of the world's grammar."""
    return judge_sentence_verdict(sentence, scene).hallucinated


def judge_description(text: str, scene: Scene) -> list[Verdict]:
    """One verdict per pysbd sentence of ``text`` (the same units ASPO weights)."""
    return [judge_sentence_verdict(sentence, scene) for sentence in split_sentences(text)]


@dataclass(frozen=True)
class DescriptionScore:
    judged: int
    hallucinated: int
    unjudged: int
    object_hallucinated: int  # sentences false because they mention an absent shape

    @property
    def any_hallucination(self) -> bool:
        return self.hallucinated > 0


def score_description(verdicts: Sequence[Verdict]) -> DescriptionScore:
    judged = [v for v in verdicts if v.hallucinated is not None]
    return DescriptionScore(
        judged=len(judged),
        hallucinated=sum(v.hallucinated for v in judged),
        unjudged=len(verdicts) - len(judged),
        object_hallucinated=sum(v.reason == "object" for v in judged),
    )


# ----------------------------------------------------------------------------- answers

def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def parse_yes_no(text: str) -> str | None:
    """``yes`` / ``no`` from an answer's first word (POPE's rule), None otherwise."""
    words = _words(text)
    if words and words[0] in ("yes", "no"):
        return words[0]
    return None


def parse_option_letter(text: str, num_options: int = len(lexicon.OPTION_LETTERS)) -> int | None:
    """The index of the option an answer picks (``B``, ``B.``, ``(B)``), None if none."""
    match = re.match(r"\s*\(?([A-Za-z])(?:[).:\s]|$)", text)
    if not match:
        return None
    index = ord(match.group(1).upper()) - ord("A")
    return index if 0 <= index < num_options else None


def parse_option(text: str, options: Sequence[str]) -> int | None:
    """The option an answer picks, as MMBench's answer extraction finds it: an option letter, else
    the one option whose text the answer is (the rule stand-in for MMBench's GPT matcher)."""
    index = parse_option_letter(text, len(options))
    if index is not None:
        return index
    answer = normalise_short_answer(text)
    matches = [i for i, option in enumerate(options) if normalise_short_answer(option) == answer]
    return matches[0] if len(matches) == 1 else None


def normalise_short_answer(text: str) -> str:
    """Lower case, punctuation dropped, number words as digits (GQA-style exact match)."""
    words = _words(text)
    words = [str(lexicon.NUMBER_WORDS.index(w)) if w in lexicon.NUMBER_WORDS else w for w in words]
    return " ".join(words)
