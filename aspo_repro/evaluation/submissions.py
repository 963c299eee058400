"""Benchmarks scored by their own evaluation server (MMBench-EN test, whose answers only the
MMBench server holds): lmms-eval writes the answers to a file for submission, the evaluation
records the benchmark as missing with that file's path, and the score the server gives back is
recorded in the run's ``eval.json``, naming who scored it.

    python -m aspo_repro submissions list --results runs/paper/results
    python -m aspo_repro submissions record runs/paper/results/paper/llava-1.5-7b/aspo/seed0/eval.json \
        --benchmark mmbench_test --score 66.3 --scored-by "MMBench server, 2026-12-03"
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import REGISTRY, Benchmark
from aspo_repro.results import EVAL_FILENAME, BenchmarkScore, EvalResult, check_benchmark


def raw_output_dir(eval_path: Path) -> Path:
    """lmms-eval's whole output, kept beside a result file."""
    return eval_path.parent / f"{eval_path.stem}.lmms_eval"


def submission_path(eval_path: Path, benchmark: Benchmark) -> Path:
    """The file lmms-eval wrote for ``benchmark``'s server, beside the result ``eval_path``."""
    return raw_output_dir(eval_path) / "submissions" / benchmark.submission_file


@dataclass(frozen=True)
class Pending:
    """A submission benchmark of a run that has no score yet."""

    eval_path: Path
    benchmark: Benchmark
    file: Path  # what to submit (it may be missing when the evaluation did not get to it)


def pending(results_root: Path) -> list[Pending]:
    """Every run under ``results_root`` whose submission benchmarks are still unscored."""
    found = []
    for path in sorted(Path(results_root).rglob(EVAL_FILENAME)):
        result = EvalResult.load(path)
        for name in result.extra.get("missing", {}):
            benchmark = REGISTRY.get(name)
            if benchmark is not None and benchmark.submission:
                found.append(Pending(path, benchmark, submission_path(path, benchmark)))
    return found


def with_server_score(result: EvalResult, eval_path: Path, benchmark: Benchmark, value: float, scored_by: str,
                      n: int | None = None) -> EvalResult:
    """``result`` with ``value`` as ``benchmark``'s score, given by ``scored_by`` for the file submitted."""
    if not benchmark.submission:
        raise UserError(f"{benchmark.name} is scored here, not by a server; only {', '.join(submission_names())} "
                        "take a server's score")
    check_benchmark(result.run.profile, benchmark.name)
    if not scored_by.strip():
        raise UserError("--scored-by must say who scored the submission (e.g. 'MMBench server, 2026-12-03')")
    file = submission_path(eval_path, benchmark)
    score = BenchmarkScore(value=value, n=n, metric="accuracy, scored by the benchmark's server",
                           judge=scored_by)
    missing = {k: v for k, v in result.extra.get("missing", {}).items() if k != benchmark.name}
    record = {"scored_by": scored_by, "file": str(file),
              "file_sha256": storage.sha256_file(file) if file.is_file() else None,
              "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return EvalResult(
        run=result.run,
        scores={**result.scores, benchmark.name: score},
        provenance={**result.provenance,
                    "server_scores": {**result.provenance.get("server_scores", {}), benchmark.name: record}},
        extra={**result.extra, "missing": missing},
    )


def record_server_score(eval_path: Path, benchmark_name: str, value: float, scored_by: str) -> EvalResult:
    """Record a server's score in the result file ``eval_path`` (rewritten atomically)."""
    benchmark = REGISTRY.get(benchmark_name)
    if benchmark is None or not benchmark.submission:
        raise UserError(f"unknown submission benchmark {benchmark_name!r}; known: {', '.join(submission_names())}")
    result = with_server_score(EvalResult.load(eval_path), Path(eval_path), benchmark, value, scored_by)
    result.save(eval_path)
    return result


def submission_names() -> list[str]:
    return sorted(name for name, benchmark in REGISTRY.items() if benchmark.submission)
