"""Exact judges for the rehearsal's judge server: the mini world's rules behind the GPT judges' prompts.

The checkable rehearsal (``checkable.py``) runs the paper profile's judged benchmarks on the
mini world's models, whose answers have exact verdicts. These judge kinds answer the judges'
own prompts, in their own reply formats, with those verdicts, so the paper path's score can
equal the project's exact one:

- SHR (``evaluation/shr.py``'s ``OpenAIJudge``): the factual notes are the scene's objects as
  the world's own sentences (``A large red circle is in the top left.``, written by
  ``mini_datasets.write_shr_documents``); each numbered comment gets the rule judge's verdict
  (``miniworld/judge.py``), in the ``N. label: reason`` lines ``shr.parse_judgement`` reads.
- MMBench's answer extraction (lmms-eval's ``MMBench_Evaluator``, asked when its rules find no
  single option): the letter of the option the answer *is* (``judge.parse_option``, mini-MMB's
  rule), else ``E``, MMBench's "none of the options".

``JudgeServer(judges=EXACT_JUDGES)`` serves them; other prompts get the server's usual replies.
"""

from __future__ import annotations

import re

from aspo_repro.rehearsal.judge_replies import JUDGES, JudgeKind, mmbench_options, shr_comments

FACTUAL_HEADER = "Factual information:"
COMMENTS_HEADER = "The comments to judge"


def scene_from_facts(prompt: str):
    """The scene whose objects the SHR prompt's factual notes state, one world sentence each."""
    from aspo_repro.miniworld import grammar, lexicon
    from aspo_repro.miniworld.scene import Scene, WorldObject

    facts = prompt.split(FACTUAL_HEADER, 1)[-1].split(COMMENTS_HEADER, 1)[0]
    objects = []
    for line in facts.splitlines():
        claim = grammar.parse_sentence(line.strip()) if line.strip() else None
        if claim is not None and claim.kind == grammar.OBJECT:
            row, column = lexicon.CELLS[lexicon.CELL_NAMES.index(claim.cell)]
            objects.append(WorldObject(claim.shape, claim.colour, claim.size or lexicon.SIZES[0], row, column))
    if not objects:
        return None
    return Scene("from-facts", tuple(sorted(objects, key=lambda o: (o.row, o.column))))


def exact_shr_label(comment: str, scene) -> str:
    """The rule judge's label of one comment (sent without its full stop)."""
    from aspo_repro.evaluation.shr import CANNOT_JUDGE, CORRECT, HALLUCINATION
    from aspo_repro.miniworld.judge import judge_sentence_verdict

    verdict = judge_sentence_verdict(comment if comment.endswith(".") else f"{comment}.", scene)
    if verdict.hallucinated is None:
        return CANNOT_JUDGE
    return HALLUCINATION if verdict.hallucinated else CORRECT


def exact_shr_reply(prompt: str, seed: int) -> str:
    scene = scene_from_facts(prompt)
    if scene is None:  # not a document of the checkable rehearsal: no verdict to give
        return "The factual information states no object of the mini world."
    lines = ["Judgement:"]
    for number, comment in enumerate(shr_comments(prompt), 1):
        lines.append(f"{number}. {exact_shr_label(comment, scene)}: the mini world's rule judge.")
    return "\n".join(lines)


def mmbench_answer(prompt: str) -> str:
    """The answer MMBench's extraction prompt asks about (its last ``Answer:`` line)."""
    tail = prompt.rsplit("Example 3:", 1)[-1]
    match = re.search(r"\nAnswer: (.*?)\nYour output:", tail, re.S)
    return match.group(1) if match else ""


def mmbench_option_texts(prompt: str) -> list[str]:
    tail = prompt.rsplit("Example 3:", 1)[-1]
    texts = dict(re.findall(r"^\s*([A-Z])\.\s(.*)$", tail, re.M))
    return [texts[letter].strip() for letter in mmbench_options(prompt)]


def exact_mmbench_reply(prompt: str, seed: int) -> str:
    from aspo_repro.miniworld.judge import parse_option

    index = parse_option(mmbench_answer(prompt), mmbench_option_texts(prompt))
    return "E" if index is None else mmbench_options(prompt)[index]


EXACT_JUDGES: dict[str, JudgeKind] = {
    **JUDGES,
    "shr": JudgeKind(JUDGES["shr"].recognise, exact_shr_reply),
    "mmbench": JudgeKind(JUDGES["mmbench"].recognise, exact_mmbench_reply),
}
