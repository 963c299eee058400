"""What the rehearsal judge answers: deterministic judgements, shaped for the judge that asks.

The judge that asks is recognised from its prompt (:data:`JUDGES`, one entry per judge kind):
MM-Vet gets a correctness score, LLaVA-W two scores on the first line, MMBench one of the option
letters offered, SHR one ``N. label: reason`` line per numbered comment; anything else a fixed
sentence. Replies are a function of the request's messages (a hash), so they mean nothing and
never change between runs. The checkable rehearsal's exact judges answer the same kinds by the
mini world's rules (``exact_judge.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GENERAL = "general"
GENERAL_REPLY = "This is a fixed reply from the rehearsal judge."


def request_seed(*parts: Any) -> int:
    """A number fixed by ``parts`` (JSON): what a deterministic reply is drawn from."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _is_mmvet(prompt: str) -> bool:
    return "to give a correctness score for the prediction" in prompt


def _mmvet_reply(prompt: str, seed: int) -> str:
    # lmms-eval: float(content.split(" ")[0]) must lie in [0, 1].
    return f"{seed % 11 / 10:.1f}"


def _is_llava_w(prompt: str) -> bool:
    return "[System]" in prompt and re.search(r"\[End of [^\]\n]+ 2\]", prompt) is not None


def _llava_w_reply(prompt: str, seed: int) -> str:
    # lmms-eval: the first two numbers of the first line are the scores of assistants 1 and 2.
    first, second = 1 + seed % 10, 1 + seed // 10 % 10
    return f"{first} {second}\nThe rehearsal judge rates assistant 1 {first} and assistant 2 {second} out of 10."


def _is_mmbench(prompt: str) -> bool:
    return "match an answer with several options of a single-choice question" in prompt


def mmbench_options(prompt: str) -> list[str]:
    """The option letters MMBench's extraction prompt offers for the question being asked (the
    ``X. ...`` lines after its last example header), in order."""
    tail = prompt.rsplit("Example 3:", 1)[-1]
    letters = re.findall(r"^\s*([A-Z])\.\s", tail, re.M)
    return list(dict.fromkeys(letters))


def _mmbench_reply(prompt: str, seed: int) -> str:
    # lmms-eval: can_infer finds exactly one letter; "E" is MMBench's "none of the options".
    letters = mmbench_options(prompt)
    return letters[seed % len(letters)] if letters else "E"


SHR_MARKER = "Judge whether each comment about an image is a hallucination or correct"
SHR_LABELS = ("hallucination", "correct", "cannot judge")


def _is_shr(prompt: str) -> bool:
    return SHR_MARKER in prompt or "hallucination or correct or cannot judge" in prompt


def shr_comments(prompt: str) -> list[str]:
    """The numbered comments SHR's prompt lists, 1, 2, 3... in order, after its last header."""
    marker = "The comments to judge"
    tail = prompt.rsplit(marker, 1)[-1] if marker in prompt else prompt.rsplit("Judgement:", 1)[-1]
    comments: list[str] = []
    for line in tail.splitlines():
        match = re.match(rf"\s*{len(comments) + 1}[.)]\s*(.*)", line)
        if match:
            comments.append(match.group(1).strip())
    return comments


def _shr_reply(prompt: str, seed: int) -> str:
    # shr.parse_judgement: a "Judgement:" line, then one "N. label: reason" line per comment.
    lines = ["Judgement:"]
    for number, _comment in enumerate(shr_comments(prompt), 1):
        label = SHR_LABELS[request_seed(seed, number) % len(SHR_LABELS)]
        lines.append(f"{number}. {label}: the rehearsal judge's deterministic verdict on comment {number}.")
    return "\n".join(lines)


@dataclass(frozen=True)
class JudgeKind:
    recognise: Callable[[str], bool]  # the request's prompt text -> whether this judge is asking
    respond: Callable[[str, int], str]  # (prompt text, seed) -> the reply's content


# Tried in order; the first that recognises the prompt answers it. Adding a judge is one entry.
JUDGES: dict[str, JudgeKind] = {
    "shr": JudgeKind(_is_shr, _shr_reply),
    "mmbench": JudgeKind(_is_mmbench, _mmbench_reply),
    "mmvet": JudgeKind(_is_mmvet, _mmvet_reply),
    "llava_w": JudgeKind(_is_llava_w, _llava_w_reply),
}


def judge_kind(prompt: str) -> str:
    return next((kind for kind, judge in JUDGES.items() if judge.recognise(prompt)), GENERAL)


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """All text of the messages, in order (string contents and the text parts of part lists)."""
    pieces = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(part.get("text", "") for part in content
                          if isinstance(part, dict) and part.get("type") == "text")
    return "\n".join(pieces)


def reply_for(messages: list[dict[str, Any]], choice: int = 0,
              judges: dict[str, JudgeKind] | None = None) -> tuple[str, str]:
    """(judge kind, reply content) for a request's messages: deterministic. ``judges`` answers
    each kind (default :data:`JUDGES`; the checkable rehearsal's exact ones: ``exact_judge.py``)."""
    prompt = prompt_text(messages)
    kind = judge_kind(prompt)
    if kind == GENERAL:
        return kind, GENERAL_REPLY
    return kind, (judges or JUDGES)[kind].respond(prompt, request_seed(messages, choice))
