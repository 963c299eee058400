"""Evaluate one model directory on a set of benchmarks through lmms-eval, and write one result.

For each benchmark: its lmms-eval tasks (the project's own ones from ``tasks/``, pointed at
their data files by a task-config override) are loaded through a ``TaskManager`` that includes
the project's task folder, and run by ``lmms_eval.evaluator.simple_evaluate`` with one model
loaded once. lmms-eval's whole output is kept beside the result file
(``<out stem>.lmms_eval/<benchmark>.json``) and doubles as a checkpoint: a benchmark whose raw
output matches the model, data, limit and lmms-eval version is not run again; its first answers are
kept again in a small excerpt (``excerpt.py``), which the committed references keep. The normalised
result (``aspo_repro.results.EvalResult``) is written last and atomically, so an interrupted
evaluation leaves no result file.

The settings are ``settings.py``'s, the model object ``lmms_model.py``'s, the tasks' inputs
``task_inputs.py``'s, the judges' environment ``judging.py``'s, the result ``record.py``'s.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.evaluation import verdicts
from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.excerpt import write_excerpt
from aspo_repro.evaluation.judging import environment, judge_environment, shr_prompt
from aspo_repro.evaluation.lmms_model import build_model, default_adapter, model_fingerprint
from aspo_repro.evaluation.mini_tasks import BENCHMARK_DIR_ENV
from aspo_repro.evaluation.normalise import normalise
from aspo_repro.evaluation.record import Progress, eval_result, lmms_eval_version
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.evaluation.task_inputs import (
    cap_answer_length,
    data_file,
    protocol_task_configs,
    reason_not_run,
    task_configs,
)
from aspo_repro.files import read_record, warn
from aspo_repro.profile_kinds import get_profile_kind
from aspo_repro.results import EvalResult

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
PAPER_SCORING_THREADS = 4  # lmms-eval's default


@functools.lru_cache(maxsize=2)
def task_manager(profile: str):
    """lmms-eval's task index: the project's tasks, plus lmms-eval's own for the paper profile
    (indexing those takes seconds, so one index per profile is kept for the process)."""
    from lmms_eval.tasks import TaskManager

    return TaskManager(verbosity="WARNING", include_path=str(TASKS_DIR),
                       include_defaults=get_profile_kind(profile).uses_lmms_eval_tasks)


def load_tasks(benchmark: Benchmark, configs: list, manager, task_type: str = "simple") -> list:
    """lmms-eval task objects with their data loaded, or a UserError naming what failed.

    ``task_type`` is the model's kind: lmms-eval builds a "chat" model's requests (messages) and a
    "simple" one's (text and visuals) differently, as its own ``simple_evaluate`` does. (Through
    ``load_task_or_group``: lmms-eval 0.7.3's ``get_task_dict`` drops ``task_type`` for configs
    given as dicts, which made chat models receive simple requests.)"""
    try:
        return list(manager.load_task_or_group(configs, task_type).values())
    except UserError:
        raise
    except Exception as error:  # lmms-eval and datasets raise many kinds; the message says which
        hint = (" (lmms-eval downloads this benchmark from the Hugging Face hub: run with network access, "
                "or with the dataset already in HF_DATASETS_CACHE)") if not benchmark.own_task else ""
        raise UserError(f"{benchmark.name}: lmms-eval could not load its data: "
                        f"{type(error).__name__}: {error}{hint}") from None


@functools.lru_cache(maxsize=1)
def protocol_code_fingerprint() -> str:
    """Hash of the protocols' code: a raw output made under other protocol rules is not reused."""
    return storage.sha256_file(Path(__file__).resolve().parent / "protocols.py")


@functools.lru_cache(maxsize=1)
def task_code_fingerprint() -> str:
    """Hash of the project's task definitions and the code that scores them: a raw output
    scored by other code is not reused."""
    here = Path(__file__).resolve().parent
    files = sorted(p for p in TASKS_DIR.rglob("*") if p.suffix in (".yaml", ".py"))
    files += [here / name for name in ("mini_tasks.py", "paper_tasks.py", "metrics.py", "shr.py")]
    return storage.stable_hash([[f.relative_to(here).as_posix(), storage.sha256_file(f)] for f in files])


def scoring_threads(benchmark: Benchmark) -> int:
    """Threads lmms-eval scores answers with. The mini judge splits sentences with one shared
    pysbd segmenter, which is not thread-safe (scored in parallel, the same answers got
    different SHR values run to run); the paper's GPT judges wait on the network."""
    return 1 if benchmark.profile_kind.has_exact_judge else PAPER_SCORING_THREADS


def run_benchmark(settings: EvalSettings, benchmark: Benchmark, model, manager, adapter_name: str) -> dict[str, Any]:
    """lmms-eval's output for one benchmark: reused from the raw file when it matches, else run."""
    from lmms_eval.evaluator import simple_evaluate

    path = data_file(settings, benchmark)
    fingerprint = {
        "benchmark": benchmark.name, "tasks": list(benchmark.tasks), "limit": settings.limit,
        "model": model_fingerprint(settings.model_dir), "adapter": adapter_name,
        "data": storage.sha256_file(path) if path else None, "lmms_eval": lmms_eval_version(),
        "task_code": task_code_fingerprint() if benchmark.own_task else None,
        "max_new_tokens": settings.max_new_tokens,
        "datasets": str(settings.dataset_dir) if settings.dataset_dir and not benchmark.own_task else None,
        "protocol": [settings.protocol.name, protocol_code_fingerprint()], "judge": settings.judge_model(benchmark),
        "judge_prompt": storage.stable_hash(shr_prompt(settings)) if settings.shr_judge_prompt and benchmark.own_task else None,
    }
    raw_path = settings.raw_dir / f"{benchmark.name}.json"
    saved = _read_raw(raw_path)
    if saved is not None and saved.get("fingerprint") == fingerprint and isinstance(saved.get("output"), dict):
        return saved["output"]
    task_type = "simple" if getattr(model, "is_simple", True) else "chat"
    configs = protocol_task_configs(settings, benchmark, task_configs(benchmark, path, settings.dataset_dir))
    tasks = load_tasks(benchmark, configs, manager, task_type)
    if not benchmark.own_task:
        settings.protocol.adjust_generation(tasks)
    cap_answer_length(tasks, settings.max_new_tokens)
    with verdicts.recorded() as mmbench_verdicts:  # MMBench's per-question verdicts, which it does not log
        output = simple_evaluate(
            model=model, tasks=tasks, task_manager=manager, log_samples=True, verbosity="WARNING",
            limit=settings.limit * benchmark.docs_per_item if settings.limit else None,
            cli_args=argparse.Namespace(output_path=str(settings.raw_dir), process_with_media=False),
            process_docs_parallel=scoring_threads(benchmark),
        )
    verdicts.add_to_samples(output, benchmark, mmbench_verdicts)
    storage.atomic_write_json(raw_path, {"fingerprint": fingerprint, "output": output})
    return _read_raw(raw_path)["output"]


def answered_by(benchmark: Benchmark) -> Benchmark:
    """The benchmark whose run answers ``benchmark``'s questions: itself, or the one it is reported with."""
    from aspo_repro.evaluation.benchmarks import get_benchmark

    return get_benchmark(benchmark.reported_with) if benchmark.reported_with else benchmark


def _read_raw(path: Path) -> dict[str, Any] | None:
    """A benchmark's saved lmms-eval output; a damaged one is reported and the benchmark run again."""
    return read_record(path, "raw lmms-eval output", warn)


def _run_all(settings: EvalSettings, benchmarks: list[Benchmark], model, adapter_name: str) -> Progress:
    progress = Progress()
    manager = task_manager(settings.profile)
    benchmark_dir = str(settings.benchmark_dir.resolve()) if settings.benchmark_dir else None
    raws: dict[str, dict[str, Any]] = {}
    with environment(BENCHMARK_DIR_ENV, benchmark_dir):
        for benchmark in tqdm(benchmarks, desc="benchmarks", unit="benchmark"):
            tick = time.perf_counter()
            source = answered_by(benchmark)  # a benchmark reported with another reads that one's answers
            with judge_environment(settings, source):
                if source.name not in raws:
                    raws[source.name] = run_benchmark(settings, source, model, manager, adapter_name)
                    write_excerpt(settings.raw_dir, source.name, raws[source.name])
                raw = raws[source.name]
                progress.seconds[benchmark.name] = round(time.perf_counter() - tick, 2)
                progress.outcomes[benchmark.name] = normalise(benchmark, raw)
            progress.raw_paths[benchmark.name] = str(settings.raw_dir / f"{source.name}.json")
            progress.task_versions.update({t: raw.get("versions", {}).get(t) for t in benchmark.tasks})
    return progress


def evaluate(settings: EvalSettings, *, model=None) -> EvalResult:
    """Evaluate and write ``settings.out``; returns the result.

    ``model``, an lmms-eval model object already loaded, is asked instead of loading ``settings.model_dir``."""
    from aspo_repro.evaluation import paper_tasks

    settings.check_job()
    started = time.perf_counter()
    missing = {b.name: r for b in settings.benchmarks if (r := reason_not_run(settings, b))}
    runnable = [b for b in settings.benchmarks if b.name not in missing]
    for benchmark in runnable:
        data_file(settings, benchmark)  # fail on a missing data file before loading the model
    progress, adapter_name = Progress(), None
    if runnable:
        if model is None:
            adapter_name = settings.adapter or default_adapter(settings.model_dir, settings.profile)
            model = build_model(settings, adapter_name)
        else:
            adapter_name = type(model).__name__
        if any(b.judged_by_own_gpt_judge for b in runnable):
            paper_tasks.use_judge(None, shr_prompt(settings))  # built from the environment, as the other judges
        progress = _run_all(settings, runnable, model, adapter_name)
    result = eval_result(settings, progress, missing, model, adapter_name, round(time.perf_counter() - started, 2))
    result.save(settings.out)
    return result
