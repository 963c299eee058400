"""The rehearsal's stand-in servers around one evaluation, where its profile asks for them
(``standins: {judge_server: true, submission_server: true}``).

The evaluation reaches them as it reaches the real ones and never knows the difference: the
stand-in judge is an OpenAI-compatible server whose address and key are put in the environment
the judges read (``judge_server.py``); the stand-in MMBench server scores the answers the
evaluation left awaiting their server, and the score is recorded in the result file as a user
records the real server's (``evaluation.submissions``, ``submission_server.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from aspo_repro.errors import UserError

_JUDGE_SERVER = None  # the process's stand-in judge, once started


@contextlib.contextmanager
def standin_servers(standins, settings, log: Callable[[str], None] = print) -> Iterator[None]:
    """Around the evaluation of ``settings`` (an ``EvalSettings``): the stand-ins ``standins`` (a
    profile's ``StandinSettings``, or None for none) asks for."""
    wants_submission_server = standins is not None and standins.submission_server
    if wants_submission_server and settings.dataset_dir is None:
        raise UserError("standins.submission_server scores against the answer keys beside the local datasets: "
                        "it needs evaluate.dataset_dir")
    if standins is not None and standins.judge_server:
        shared_judge_server(log)
    yield
    if wants_submission_server:
        record_standin_scores(settings)


def shared_judge_server(log: Callable[[str], None] = print):
    """The rehearsal's local OpenAI-compatible judge (``judge_server.JudgeServer``; its deterministic
    judgements mean nothing), named in the environment as the judges' server (its base URL and key).

    One server for the process, left running: a judge client keeps the address it read for the life
    of the process, so every later evaluation in the process must find the same one."""
    global _JUDGE_SERVER
    if _JUDGE_SERVER is None:
        import atexit

        from aspo_repro.rehearsal.judge_server import JudgeServer

        _JUDGE_SERVER = JudgeServer(port=0)
        _JUDGE_SERVER.start()
        atexit.register(_JUDGE_SERVER.stop)
        os.environ.update(_JUDGE_SERVER.environment())
        log(f"judge: {_JUDGE_SERVER.model} at {_JUDGE_SERVER.base_url} (local, deterministic)")
    return _JUDGE_SERVER


def record_standin_scores(settings) -> None:
    """Each submission benchmark of ``settings`` left awaiting its server in the result file, scored by
    the stand-in of that server and recorded there."""
    from aspo_repro.evaluation.submissions import submission_path, with_server_score
    from aspo_repro.rehearsal.submission_server import SubmissionServerStandin
    from aspo_repro.results import EvalResult

    result = EvalResult.load(settings.out)
    awaiting = [b for b in settings.benchmarks if b.submission and b.name in result.extra.get("missing", {})]
    if not awaiting:
        return
    server = SubmissionServerStandin(settings.dataset_dir)
    for benchmark in awaiting:
        value, n = server.score(benchmark, submission_path(settings.out, benchmark))
        result = with_server_score(result, settings.out, benchmark, value, server.name(benchmark), n=n)
    result.save(settings.out)
