"""How an evaluation reaches its judges: the judge model a benchmark asks for and the address of an
OpenAI-compatible server, set where each judge client reads them.

The judges' server is named once, as the ``openai`` SDK names it: ``OPENAI_BASE_URL`` (its base URL,
``.../v1``; OpenAI's when unset) and ``OPENAI_API_KEY``. lmms-eval 0.7.3's judge clients read one
variable, ``OPENAI_API_URL``, in two ways: its ``llm_judge`` (MM-Vet, LLaVA-W) as the base URL,
MMBench's evaluator as the whole chat-completions endpoint; so while a benchmark runs,
``OPENAI_API_URL`` is made from the base URL in the form that benchmark's client reads
(``Benchmark.judge_client_wants_endpoint``). The evaluation does not know whether the server is
OpenAI's, a local one, or the rehearsal's stand-in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.normalise import LMMS_JUDGE_ENV, LMMS_JUDGE_URL_ENV
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.evaluation.shr import BASE_URL_ENV, JUDGE_MODEL_ENV

CHAT_COMPLETIONS = "/chat/completions"


@contextlib.contextmanager
def environment(name: str, value: str | None) -> Iterator[None]:
    """``name`` set to ``value`` inside the block (None: left as it is), restored after it."""
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def lmms_judge_url(benchmark: Benchmark) -> str | None:
    """``OPENAI_API_URL`` as ``benchmark``'s lmms-eval judge client reads it, made from the judges'
    base URL; None when no base URL is set (lmms-eval's defaults are OpenAI's own addresses)."""
    base = os.environ.get(BASE_URL_ENV, "").rstrip("/")
    if not base:
        return None
    return base + CHAT_COMPLETIONS if benchmark.judge_client_wants_endpoint else base


def lmms_judge_environment(benchmark: Benchmark, model: str | None) -> dict[str, str]:
    """The variables lmms-eval's judge client of ``benchmark`` reads, for judge ``model`` (None: the
    environment's or lmms-eval's default)."""
    values = {LMMS_JUDGE_ENV: model, JUDGE_MODEL_ENV: model, LMMS_JUDGE_URL_ENV: lmms_judge_url(benchmark)}
    return {name: value for name, value in values.items() if value is not None}


@contextlib.contextmanager
def judge_environment(settings: EvalSettings, benchmark: Benchmark) -> Iterator[None]:
    """The judge ``benchmark`` asks for, where the judges read it: lmms-eval's task code reads
    MODEL_VERSION and OPENAI_API_URL when a task's utils module is loaded or its first answer is
    scored, the SHR judge ASPO_SHR_JUDGE_MODEL when built, and ``normalise`` names the judge from them."""
    with contextlib.ExitStack() as stack:
        for name, value in lmms_judge_environment(benchmark, settings.judge_model(benchmark)).items():
            stack.enter_context(environment(name, value))
        yield


def shr_prompt(settings: EvalSettings) -> str:
    """The SHR judge's prompt: HA-DPO's verbatim one when given, else the project's paraphrase."""
    from aspo_repro.evaluation import shr

    return shr.read_judge_prompt(settings.shr_judge_prompt) if settings.shr_judge_prompt else shr.JUDGE_PROMPT
