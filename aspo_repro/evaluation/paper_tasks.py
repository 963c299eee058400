"""The document functions of the paper profile's own lmms-eval task, ``shr`` (``tasks/shr``).

lmms-eval calls plain functions, so the judge is chosen here, once per process:
:func:`use_judge` installs one (the runner, or a test with a fake API client); otherwise the
first document builds an :class:`~aspo_repro.evaluation.shr.OpenAIJudge` from the environment.
"""

from __future__ import annotations

import threading
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.evaluation import metrics
from aspo_repro.evaluation.shr import JUDGE_PROMPT, OpenAIJudge, SentenceJudge, shr_record

_judge: SentenceJudge | None = None
_prompt_template = JUDGE_PROMPT
_lock = threading.Lock()


def use_judge(judge: SentenceJudge | None, prompt_template: str = JUDGE_PROMPT) -> None:
    """Install the SHR judge (None: build one from the environment, asking with ``prompt_template``,
    when first needed)."""
    global _judge, _prompt_template
    with _lock:
        _judge, _prompt_template = judge, prompt_template


def current_judge() -> SentenceJudge:
    global _judge
    with _lock:
        if _judge is None:
            _judge = OpenAIJudge.from_env(_prompt_template)
        return _judge


def shr_doc_to_visual(doc: dict[str, Any]) -> list:
    from PIL import Image

    try:
        with Image.open(doc["image"]) as image:
            return [image.convert("RGB")]
    except FileNotFoundError:
        raise UserError(f"SHR image {doc['image']} is missing: is Visual Genome where prepare_shr_docs saw it?") from None


def shr_doc_to_text(doc: dict[str, Any]) -> str:
    return doc["question"]


def shr_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict]:
    return {"shr": shr_record(results[0], doc, current_judge())}


def shr(records) -> float:
    return metrics.SHR.score(records)
