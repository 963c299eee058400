"""What a benchmark's lmms-eval tasks read: their data (a mini world's file, the SHR documents, local
copies of hub datasets), the protocol's overrides of lmms-eval's task configs, the answer-length cap;
and why a benchmark cannot run here at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.local_datasets import local_task_configs
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.evaluation.shr import API_KEY_ENV


def data_file(settings: EvalSettings, benchmark: Benchmark) -> Path | None:
    """The local file a project task reads, or None for lmms-eval's own (hub) tasks."""
    if benchmark.data_file is not None:
        if settings.benchmark_dir is None:
            raise UserError(f"{benchmark.name} needs the mini world's benchmark directory (--benchmark-dir)")
        path = settings.benchmark_dir / benchmark.data_file
        if not path.is_file():
            raise UserError(f"{path} does not exist: is {settings.benchmark_dir} a mini world's benchmark directory?")
        return path
    if benchmark.needs_shr_documents and settings.shr_data is not None:
        if not settings.shr_data.is_file():
            raise UserError(f"SHR documents {settings.shr_data} do not exist (write them with shr.prepare_shr_docs)")
        return settings.shr_data
    return None


def reason_not_run(settings: EvalSettings, benchmark: Benchmark) -> str | None:
    """Why a benchmark cannot be scored at all in this environment (checked before running)."""
    if benchmark.needs_api_key and not os.environ.get(API_KEY_ENV):
        kind = "a GPT judge" if benchmark.judge == "gpt" else "GPT to extract answers the rules cannot"
        return f"needs {kind}: set {API_KEY_ENV} (an OpenAI-compatible key) and run again"
    if benchmark.needs_shr_documents and (settings.shr_data is None or not settings.shr_data.is_file()):
        given = f"{settings.shr_data} does not exist; " if settings.shr_data is not None else ""
        return (f"needs the SHR documents ({given}--shr-data FILE or the profile's evaluate.shr_data, "
                "written by aspo_repro.evaluation.shr.prepare_shr_docs)")
    return None


def task_configs(benchmark: Benchmark, path: Path | None, dataset_dir: Path | None = None) -> list[str | dict[str, Any]]:
    """What ``get_task_dict`` gets: task names, or configs pointing at local data (a project task's
    data file, or the local copy of a hub dataset in ``dataset_dir``)."""
    if path is not None:
        return [{"task": task, "dataset_kwargs": {"data_files": {"test": str(path)}}} for task in benchmark.tasks]
    if dataset_dir is not None and not benchmark.own_task:
        return local_task_configs(benchmark.name, benchmark.tasks, dataset_dir)
    return list(benchmark.tasks)


def cap_answer_length(tasks: list, max_new_tokens: int | None) -> None:
    """At most ``max_new_tokens`` per answer in every task (lmms-eval reads its task config's
    generation settings when it builds the requests)."""
    if max_new_tokens is None:
        return
    for task in tasks:
        settings = dict(task.config.generation_kwargs or {})
        settings["max_new_tokens"] = min(settings.get("max_new_tokens", max_new_tokens), max_new_tokens)
        task.config.generation_kwargs = settings


def protocol_task_configs(settings: EvalSettings, benchmark: Benchmark, configs: list) -> list:
    """``configs`` with the protocol's overrides of lmms-eval's own tasks (the project's own tasks keep theirs)."""
    if benchmark.own_task:
        return configs
    return [settings.protocol.task_config(config) for config in configs]
