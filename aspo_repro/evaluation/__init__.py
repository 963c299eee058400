"""Evaluation through lmms-eval, for both profiles.

- ``benchmarks``: the registry (paper columns and mini analogues -> lmms-eval tasks, metric, scale, judge);
- ``tasks/``: the project's own lmms-eval tasks (mini-POPE/SHR/GQA/MMB from a mini world's files,
  and HA-DPO's SHR), loaded through ``TaskManager(include_path=...)``;
- ``mini_tasks``, ``paper_tasks``: their document functions; ``metrics``: their metrics;
- ``shr``: SHR's judges (the mini world's exact rule judge; a GPT judge behind an OpenAI-compatible API);
- ``adapter``: ``aspo_hf``, the lmms-eval model adapter for local checkpoints (batched);
- ``runner``: ``evaluate(EvalSettings)``: one model, many benchmarks, one result file;
- ``normalise``: lmms-eval's output -> ``results.BenchmarkScore`` on the paper's 0-100 scale.

Heavy libraries (torch, lmms-eval) are imported by ``adapter`` and ``runner`` only.
"""

from aspo_repro.evaluation.benchmarks import REGISTRY, Benchmark, get_benchmark, select

__all__ = ["REGISTRY", "Benchmark", "get_benchmark", "select"]
