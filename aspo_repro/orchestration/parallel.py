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
from dataclasses import dataclass

from aspo_repro.orchestration.launch import (
    StepRecords,
    make_request,
    step_processes,
    submit_local,
    worker_command,
    write_request,
)
from aspo_repro.orchestration.memory import seen_gpu_memory_gib
from aspo_repro.orchestration.plan import Plan, Step
from aspo_repro.orchestration.runner import (
    BLOCKED,
    FAILED,
    RAN,
    REUSED,
    Outcome,
    Report,
    append_journal,
    decide,
    format_seconds,
    note_outcome,
)
from aspo_repro.orchestration.stages import Invocation, Stages

POLL_SECONDS = 0.5
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would kill any real step


def gpu_count() -> int:
    from aspo_repro.devices import visible_gpus

    return visible_gpus()


@dataclass
class _Running:
    job: object  # submitit's job
    gpu: int | None
    started: float
    step: Step
    prefix: str


def run_parallel(plan: Plan, stages: Stages, invocation: Invocation, jobs: int, log=print) -> Report:
    """Run the plan with up to ``jobs`` steps at once; a ``Report`` like ``runner.execute``'s."""
    gpus = list(range(gpu_count()))
    slots = min(jobs, len(gpus)) if gpus else jobs
    threads = None if gpus else max(1, (os.cpu_count() or 1) // slots)
    records = StepRecords(stages.ws.work_dir, warn=log)
    journal = stages.ws.work_dir / "reproduce.jsonl"
    outcomes: dict[tuple, Outcome] = {}
    failed: set[tuple] = set()
    rebuilt: set[tuple] = set()
    running: dict[tuple, _Running] = {}
    pending = list(plan.steps)
    total = len(plan.steps)

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.step.key] = outcome
        note_outcome(outcome, failed, rebuilt)
        append_journal(journal, outcome, invocation)

    while pending or running:
        for step in list(pending):
            if len(running) >= slots:
                break
            if any(need not in outcomes for need in step.needs):
                continue  # a step it needs has not finished
            pending.remove(step)
            prefix = f"[{plan.steps.index(step) + 1}/{total}] {step.label()}"
            decision = decide(step, failed, rebuilt, stages)
            if decision == BLOCKED:
                log(f"{prefix}: blocked (a step it needs failed)")
                finish(Outcome(step, BLOCKED, error="a step it needs failed"))
                continue
            if decision == REUSED:
                log(f"{prefix}: done already, reused")
                finish(Outcome(step, REUSED))
                continue
            gpu = next(g for g in gpus if g not in {r.gpu for r in running.values()}) if gpus else None
            # made from a step rebuilt now: run even if its output exists (like make)
            force = bool(rebuilt.intersection(step.needs))
            request = make_request(stages, plan, step, invocation, threads, force=force)
            processes = step_processes(stages, step, 0 if gpu is None else 1,
                                       None if gpu is None else seen_gpu_memory_gib())
            records.write(step, "queued")
            job = submit_local(records, worker_command(write_request(records, request), processes), LOCAL_TIMEOUT_MIN, gpu)
            records.write_submission(step, str(job.job_id), "local", str(job.paths.stdout))
            running[step.key] = _Running(job, gpu, time.perf_counter(), step, prefix)
            log(f"{prefix} ... (job {job.job_id}{'' if gpu is None else f', GPU {gpu}'})")
        for key, entry in list(running.items()):
            if not entry.job.done():
                continue
            del running[key]
            outcome = _outcome(entry.step, entry.job, records, time.perf_counter() - entry.started)
            verdict = "done" if outcome.status == RAN else f"FAILED: {outcome.error}"
            log(f"{entry.prefix}: {verdict} after {format_seconds(outcome.seconds)}")
            finish(outcome)
        time.sleep(POLL_SECONDS)
    return Report([outcomes[step.key] for step in plan.steps])


def _outcome(step: Step, job, records: StepRecords, seconds: float) -> Outcome:
    record = records.read(step) or {}
    if record.get("status") == "done":
        return Outcome(step, REUSED if record.get("reused") else RAN, seconds)
    error = record.get("error") or _job_error(job)
    return Outcome(step, FAILED, seconds, f"{error} (log: {job.paths.stdout})")


def _job_error(job) -> str:
    try:
        job.result()
    except Exception as error:  # the job's own failure, as submitit reports it
        return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return "the step ended without a record"
