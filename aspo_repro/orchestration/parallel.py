"""``reproduce --launcher local --jobs N``: independent steps of a plan at once on this machine.

A step starts when every step it needs has finished, at most N at a time; of the steps ready, the one
with the longest chain of work after it first (``Plan.critical_paths``, from the profile's estimates).
With GPUs each step runs
in its own process (the worker, through submitit's local executor, which keeps its log under
``<work_dir>/launch/jobs/``) that sees one GPU of its own (``CUDA_VISIBLE_DEVICES``). On a CPU the
steps run in N processes started once (``StepPool``: the libraries are imported once, not per step),
each at the torch threads a step run in turn has, so that they train the same weights (one thread and
two train different ones); a step whose kind keeps every core busy itself (the world's stages) runs
alone in this process. What one step's failure blocks, and the report and journal, are the sequential
runner's.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.child_environment import KEEP_FREED_MEMORY, SLEEPING_OPENMP, child_environment
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
    BLOCKED_BY_FAILURE,
    FAILED,
    RAN,
    REUSED,
    Outcome,
    Report,
    append_journal,
    decide,
    execute,
    note_outcome,
    outcome_line,
    run_step_here,
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
    slots = min(jobs, len(gpus)) if gpus else min(jobs, os.cpu_count() or 1)
    if slots <= 1:
        return execute(plan, stages, invocation, log=log)
    with contextlib.ExitStack() as stack:
        pool = None if gpus else stack.enter_context(StepPool(slots))
        return _run_at_once(plan, stages, invocation, slots, gpus, pool, log)


def _run_at_once(plan: Plan, stages: Stages, invocation: Invocation, slots: int, gpus: list[int],
                 pool: StepPool | None, log) -> Report:
    records = StepRecords(stages.ws.work_dir, warn=log)
    journal = stages.ws.work_dir / "reproduce.jsonl"
    outcomes: dict[tuple, Outcome] = {}
    failed: set[tuple] = set()
    rebuilt: set[tuple] = set()
    running: dict[tuple, _Running] = {}
    chains = plan.critical_paths(lambda step: stages.ws.profile.estimate(step.kind.name, step.on_model))
    pending = sorted(plan.steps, key=lambda step: -chains[step.key])  # of the steps ready, the longest chain first
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
            if decision in (BLOCKED, REUSED):
                outcome = Outcome(step, decision, error=BLOCKED_BY_FAILURE if decision == BLOCKED else None)
                log(outcome_line(prefix, outcome))
                finish(outcome)
                continue
            if pool is not None and step.kind.uses_every_core:
                if running:  # it waits for the running steps to end, then runs alone
                    pending.insert(0, step)
                    break
                log(f"{prefix} ...")
                outcome = run_step_here(step, stages, invocation)
                # the workers of the steps made from it read whether it succeeded from its record
                records.write(step, "done" if outcome.status == RAN else "failed", error=outcome.error)
                log(outcome_line(prefix, outcome))
                finish(outcome)
                continue
            gpu = next(g for g in gpus if g not in {r.gpu for r in running.values()}) if gpus else None
            # made from a step rebuilt now: run even if its output exists (like make)
            force = bool(rebuilt.intersection(step.needs))
            request = make_request(stages, plan, step, invocation, force=force)
            processes = step_processes(stages, step, 0 if gpu is None else 1,
                                       None if gpu is None else seen_gpu_memory_gib())
            records.write(step, "queued")
            command = worker_command(write_request(records, request), processes)
            if pool is not None and processes.count == 1:
                job = pool.submit(records, step, command[-1])
            else:
                job = submit_local(records, command, LOCAL_TIMEOUT_MIN, gpu)
            records.write_submission(step, str(job.job_id), "local", str(job.paths.stdout))
            running[step.key] = _Running(job, gpu, time.perf_counter(), step, prefix)
            log(f"{prefix} ... (job {job.job_id}{'' if gpu is None else f', GPU {gpu}'})")
        for key, entry in list(running.items()):
            if not entry.job.done():
                continue
            del running[key]
            outcome = _outcome(entry.step, entry.job, records, time.perf_counter() - entry.started)
            log(outcome_line(entry.prefix, outcome))
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


# ---------------------------------------------------------------- steps at once on a CPU
@dataclass(frozen=True)
class _Paths:
    stdout: Path


class _PoolJob:
    """A step running in a ``StepPool``: what the launcher's loop asks of a submitit job."""

    def __init__(self, future, job_id: str, log_path: Path):
        self.future, self.job_id, self.paths = future, job_id, _Paths(log_path)

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        return self.future.result()


class StepPool:
    """``size`` worker processes, started once, that run steps one at a time each, every step's output
    in its own log (``<work_dir>/launch/jobs/<step>.log``). Their OpenMP threads sleep when idle and
    their malloc keeps freed memory (``child_environment``)."""

    def __init__(self, size: int):
        self.size = size
        self._executor = None
        self._submitted = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> StepPool:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from aspo_repro.miniworld.build import exit_with_parent

        # for the pool's life: the executor starts a worker when a step finds none idle
        self._stack.enter_context(child_environment({**SLEEPING_OPENMP, **KEEP_FREED_MEMORY}))
        self._executor = ProcessPoolExecutor(max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=exit_with_parent, initargs=(os.getpid(),))
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            self._executor.shutdown(wait=True, cancel_futures=True)
        finally:
            self._stack.close()

    def submit(self, records: StepRecords, step: Step, request_path: str) -> _PoolJob:
        from aspo_repro.orchestration.launch import step_slug

        self._submitted += 1
        log_path = records.log_dir() / f"{step_slug(step)}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        future = self._executor.submit(_run_logged, request_path, str(log_path))
        return _PoolJob(future, f"pool-{self._submitted}", log_path)


_KEPT_STAGES: dict = {}  # in a pool worker: each workspace's Stages, kept across its steps as a run in turn keeps its own


def _run_logged(request_path: str, log_path: str) -> int:
    """In a pool worker: the worker's ``main`` on one request, its output (file descriptors 1 and 2
    too, for what libraries print) appended to ``log_path``; raises when the step did not succeed."""
    import sys

    from aspo_repro.orchestration.worker import main

    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            code = main([request_path], kept=_KEPT_STAGES)
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
    if code:
        raise RuntimeError(f"the step's worker exited with status {code} (log: {log_path})")
    return code
