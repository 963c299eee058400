"""``reproduce --launcher local --jobs N``: independent steps of a plan at once on this machine.

Each step runs in its own process (the worker, through submitit's local executor, which keeps
its log under ``<work_dir>/launch/jobs/``); a step starts when every step it needs has finished,
at most N at a time. With GPUs each process sees one GPU of its own (``CUDA_VISIBLE_DEVICES``);
on a CPU each gets an equal share of the cores as its torch threads. What one step's failure
blocks, and the report and journal, are the sequential runner's.
"""

from __future__ import annotations

import os
import time

from aspo_repro.orchestration.launch import StepRecords, make_request, worker_command, write_request
from aspo_repro.orchestration.plan import Plan, Step
from aspo_repro.orchestration.runner import (
    BLOCKED,
    DONE,
    FAILED,
    RAN,
    Outcome,
    Report,
    append_journal,
    format_seconds,
)
from aspo_repro.orchestration.stages import Invocation, Stages

POLL_SECONDS = 0.5
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would kill any real step


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_parallel(plan: Plan, stages: Stages, invocation: Invocation, jobs: int, log=print) -> Report:
    """Run the plan with up to ``jobs`` steps at once; a ``Report`` like ``runner.execute``'s."""
    gpus = list(range(gpu_count()))
    slots = min(jobs, len(gpus)) if gpus else jobs
    threads = None if gpus else max(1, (os.cpu_count() or 1) // slots)
    records = StepRecords(stages.ws.work_dir, warn=log)
    journal = stages.ws.work_dir / "reproduce.jsonl"
    outcomes: dict[tuple, Outcome] = {}
    running: dict[tuple, tuple] = {}  # step key -> (job, gpu, started)
    pending = list(plan.steps)
    rebuilt: set[tuple] = set()
    total = len(plan.steps)
    while pending or running:
        for step in list(pending):
            if len(running) >= slots:
                break
            decision = _decide(step, outcomes, stages, rebuilt)
            if decision == "wait":
                continue
            pending.remove(step)
            prefix = f"[{plan.steps.index(step) + 1}/{total}] {step.label()}"
            if decision in (DONE, BLOCKED):
                outcomes[step.key] = Outcome(step, decision, error="a step it needs failed" if decision == BLOCKED else None)
                log(f"{prefix}: {'done already, reused' if decision == DONE else 'blocked (a step it needs failed)'}")
                append_journal(journal, outcomes[step.key], invocation)
                continue
            gpu = next(g for g in gpus if g not in {r[1] for r in running.values()}) if gpus else None
            # made from a step rebuilt now: run even if its output exists (like make)
            force = bool(rebuilt.intersection(step.needs))
            request = make_request(stages, plan, step, invocation, threads, force=force)
            records.write(step, "queued")
            job = _submit(records, write_request(records, request), gpu)
            records.write_submission(step, str(job.job_id), "local", str(job.paths.stdout))
            running[step.key] = (job, gpu, time.perf_counter(), step, prefix)
            log(f"{prefix} ... (job {job.job_id}{'' if gpu is None else f', GPU {gpu}'})")
        for key, (job, _gpu, started, step, prefix) in list(running.items()):
            if not job.done():
                continue
            del running[key]
            outcomes[key] = _outcome(step, job, records, time.perf_counter() - started)
            if outcomes[key].status == RAN and step.kind != "world":
                rebuilt.add(key)
            verdict = "done" if outcomes[key].status == RAN else f"FAILED: {outcomes[key].error}"
            log(f"{prefix}: {verdict} after {format_seconds(outcomes[key].seconds)}")
            append_journal(journal, outcomes[key], invocation)
        time.sleep(POLL_SECONDS)
    return Report([outcomes[step.key] for step in plan.steps])


def _decide(step: Step, outcomes: dict[tuple, Outcome], stages: Stages, rebuilt: set[tuple]) -> str:
    """wait, reused, blocked, or run: as the sequential runner decides, once the needs have finished."""
    if any(need not in outcomes for need in step.needs):
        return "wait"
    if step.kind != "render" and any(outcomes[need].status in (FAILED, BLOCKED) for need in step.needs):
        return BLOCKED
    if stages.is_done(step) and not rebuilt.intersection(step.needs):
        return DONE
    return "run"


def _submit(records: StepRecords, request_path, gpu: int | None):
    from submitit import LocalExecutor
    from submitit.helpers import CommandFunction

    executor = LocalExecutor(folder=records.log_dir())
    parameters = {"timeout_min": LOCAL_TIMEOUT_MIN}
    if gpu is not None:
        parameters.update(gpus_per_node=1, visible_gpus=(gpu,))
    executor.update_parameters(**parameters)
    return executor.submit(CommandFunction(worker_command(request_path), verbose=False))


def _outcome(step: Step, job, records: StepRecords, seconds: float) -> Outcome:
    record = records.read(step) or {}
    if record.get("status") == "done":
        return Outcome(step, DONE if record.get("reused") else RAN, seconds)
    error = record.get("error") or _job_error(job)
    return Outcome(step, FAILED, seconds, f"{error} (log: {job.paths.stdout})")


def _job_error(job) -> str:
    try:
        job.result()
    except Exception as error:  # the job's own failure, as submitit reports it
        return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return "the step ended without a record"
