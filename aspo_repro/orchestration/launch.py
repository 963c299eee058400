"""Running a plan's steps in other processes: several at once on this machine, or as Slurm jobs.

- ``local --jobs N`` (``run_parallel``): independent steps run concurrently, each in its own
  process through submitit's local executor, at most N at a time; with GPUs, one step per GPU
  (its process sees only that device); on a CPU, each process gets its share of the cores.
  ``--jobs 1`` is the sequential runner (``runner.execute``), in this process.
- ``slurm`` (``submit``): each step is one Slurm job, submitted with submitit, with an ``afterok``
  dependency on the jobs of the steps it is made from (``afterany`` for a table, which renders
  whatever exists). It returns after submitting; submitted again, it reports each step's state and
  submits only what is missing or failed, with what depends on it, never a step that is queued
  or running. ``cancel`` cancels what a plan submitted.

Every step runs in ``worker.py``: it waits for the steps it needs (by their records, so that the
order holds even where no scheduler enforces it), runs the stage, and leaves its record under
``<work_dir>/launch/steps/``: queued, waiting, running, failed (with the error and its log),
blocked or done. Job logs go under ``<work_dir>/launch/jobs/``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aspo_repro.files import read_record
from aspo_repro.orchestration.memory import Hardware, training_accelerate_config
from aspo_repro.orchestration.plan import Plan, Step
from aspo_repro.orchestration.profiles import Profile
from aspo_repro.orchestration.stages import Invocation, Stages
from aspo_repro.orchestration.step_kinds import get_step_kind
from aspo_repro.results import RunKey
from aspo_repro.storage import atomic_write_json, stable_hash

LAUNCH_DIR = "launch"
LIVE = ("queued", "waiting", "running")


# ---------------------------------------------------------------- requests and records
@dataclass(frozen=True)
class StepRequest:
    """Everything a worker process needs to run one step (written as JSON beside the job)."""

    profile: str  # a profile name or file
    results_root: str
    tables_dir: str
    work_dir: str
    cache_dir: str | None
    step: Step
    needs: tuple[Step, ...]
    invocation: Invocation
    threads: int | None = None  # torch threads of a CPU worker (its share of the cores)
    force: bool = False  # run even if its output exists: a step it is made from was rebuilt
    # the scheduler starts the job once its needs' jobs have ended (Slurm's dependencies): a need
    # not done by then has failed, whatever its record says (a job killed on another node writes none)
    needs_ended: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = step_to_json(self.step)
        data["needs"] = [step_to_json(need) for need in self.needs]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRequest:
        return cls(
            **{k: v for k, v in data.items() if k not in ("step", "needs", "invocation")},
            step=step_from_json(data["step"]),
            needs=tuple(step_from_json(need) for need in data["needs"]),
            invocation=Invocation(**data["invocation"]),
        )


def step_to_json(step: Step) -> dict[str, Any]:
    return {
        "kind": step.kind.name,
        "key": list(step.key),
        "needs": [list(need) for need in step.needs],
        "run": step.run.as_dict() if step.run else None,
        "model": step.model,
        "beside": [step_to_json(made) for made in step.beside],
        "rescored_by": list(step.rescored_by),
    }


def step_from_json(data: dict[str, Any]) -> Step:
    return Step(
        get_step_kind(data["kind"]),
        tuple(data["key"]),
        tuple(tuple(need) for need in data["needs"]),
        run=RunKey(**data["run"]) if data["run"] else None,
        model=data["model"],
        beside=tuple(step_from_json(made) for made in data.get("beside", ())),
        rescored_by=tuple(data.get("rescored_by", ())),
    )


def step_slug(step: Step) -> str:
    """A file name for a step: readable, and unique by a hash of its key."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(part) for part in step.key))
    return f"{readable}-{stable_hash(list(step.key))[:8]}"


class StepRecords:
    """The state of each step of a work directory, as its worker (or the launcher) last wrote it."""

    def __init__(self, work_dir: Path, warn=None):
        self.root = Path(work_dir) / LAUNCH_DIR
        self.warn = warn

    def path(self, step: Step) -> Path:
        return self.root / "steps" / f"{step_slug(step)}.json"

    def request_path(self, step: Step) -> Path:
        return self.root / "requests" / f"{step_slug(step)}.json"

    def submission_path(self, step: Step) -> Path:
        return self.root / "submitted" / f"{step_slug(step)}.json"

    def log_dir(self) -> Path:
        return self.root / "jobs"

    def submission(self, step: Step) -> dict[str, Any] | None:
        """The job last submitted for the step: its id, scheduler, host and log."""
        return read_record(self.submission_path(step), "job submission record", self.warn)

    def write_submission(self, step: Step, job_id: str, cluster: str, log: str | None = None) -> None:
        atomic_write_json(self.submission_path(step), {
            "job_id": job_id, "cluster": cluster, "log": log, "step": list(step.key),
            "host": socket.gethostname(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def read(self, step: Step) -> dict[str, Any] | None:
        return read_record(self.path(step), "step record", self.warn)

    def status(self, step: Step) -> str | None:
        record = self.read(step)
        return record.get("status") if record else None

    def write(self, step: Step, status: str, **info: Any) -> None:
        if not _is_main_rank():
            return
        atomic_write_json(self.path(step), {
            **info, "status": status, "step": list(step.key), "label": step.label(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": socket.gethostname(), "pid": os.getpid(),
        })


def _is_main_rank() -> bool:
    """Under ``accelerate launch`` every rank runs the worker; only the first writes records."""
    return os.environ.get("RANK", "0") == "0"


# ---------------------------------------------------------------- states and what to submit
def step_state(step: Step, stages: Stages, records: StepRecords, alive: Callable[[dict | None], bool]) -> str:
    """done, queued, waiting, running, failed, blocked or missing.

    ``alive(submission)`` says whether the scheduler still holds the step's job (queued or running).
    """
    if stages.is_done(step):
        return "done"
    record = records.read(step)
    if record is None:
        return "missing"
    status = record.get("status")
    if status == "done":
        # a kind that always runs has no output of its own; a done stage whose output is gone is missing
        return "done" if step.kind.always_runs else "missing"
    if status in LIVE and not alive(records.submission(step)):
        return "failed"  # the job died without a word: killed, out of time or memory, node failure
    return status if status in (*LIVE, "failed", "blocked") else "missing"


def steps_to_submit(plan: Plan, states: dict[tuple, str]) -> list[tuple[Step, bool]]:
    """What is missing, failed or blocked, and every step made from a step submitted now; each
    with whether it must run even if its output exists (made from a step that runs again).

    A queued or running step is never submitted again, unless something it needs is (its job
    waits on a job that will never succeed).
    """
    chosen: list[tuple[Step, bool]] = []
    again: set[tuple] = set()
    for step in plan.steps:
        remade_from = bool(again.intersection(step.needs))
        if states[step.key] in ("done", *LIVE) and not remade_from:
            continue
        again.add(step.key)
        chosen.append((step, remade_from))
    return chosen


def needs_of(plan: Plan, step: Step) -> tuple[Step, ...]:
    by_key = {s.key: s for s in plan.steps}
    return tuple(by_key[key] for key in step.needs)


def make_request(
    stages: Stages, plan: Plan | None, step: Step, invocation: Invocation, threads: int | None = None,
    force: bool = False, needs: tuple[Step, ...] | None = None, needs_ended: bool = False,
) -> StepRequest:
    """The request of ``step``; it waits for ``needs`` (by default the plan's steps it needs)."""
    ws = stages.ws
    profile = str(ws.profile.source) if ws.profile.source else ws.profile.name
    return StepRequest(
        profile=profile,
        results_root=str(ws.results_root),
        tables_dir=str(ws.tables_dir),
        work_dir=str(ws.work_dir),
        cache_dir=str(ws.cache_dir) if ws.cache_dir else None,
        step=step,
        needs=needs_of(plan, step) if needs is None else needs,
        invocation=invocation,
        threads=threads,
        force=force,
        needs_ended=needs_ended,
    )


def write_request(records: StepRecords, request: StepRequest) -> Path:
    path = records.request_path(request.step)
    atomic_write_json(path, request.to_json())
    return path


@dataclass(frozen=True)
class Processes:
    """How a step runs: in the worker's one process, or ``count`` ranks under ``accelerate launch``."""

    count: int = 1
    accelerate_config: str | None = None


def step_processes(stages: Stages, step: Step, gpus: int, gpu_memory_gb: float | None,
                   accelerate_config: str | None = None) -> Processes:
    """The processes every launcher starts ``step`` in where it gets ``gpus`` GPUs of ``gpu_memory_gb``
    each (None: not known): one per GPU for a kind that spans processes (or the profile's count),
    under the accelerate config given, the profile's, or the one of the sharding the memory plan picks."""
    if not step.kind.spans_processes:
        return Processes()
    count = stages.training_processes(step.run, gpus, accelerate_config)
    if count == 1:
        return Processes()
    hardware = Hardware(gpus, gpu_memory_gb) if gpus and gpu_memory_gb else None
    return Processes(count, accelerate_config
                     or training_accelerate_config(step.run.model, stages.ws.profile, hardware))


def worker_command(request_path: Path, processes: Processes = Processes()) -> list[str]:
    """The command a job runs: the worker, under ``accelerate launch`` when it runs in several processes."""
    import sys

    worker = ["-m", "aspo_repro.orchestration.worker", str(request_path)]
    if processes.count > 1:
        # port 0: a free one, so that two jobs that share a node do not both take accelerate's 29500
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(Profile.path(processes.accelerate_config)), "--num_processes", str(processes.count),
                "--main_process_port", "0", *worker]
    return [sys.executable, "-u", *worker]


def run_under_accelerate(stages: Stages, step: Step, invocation: Invocation, processes: Processes, log=print) -> None:
    """Run ``step`` in the processes ``accelerate launch`` starts and wait for them (the sequential
    runner's training in several processes); its output is in the step's log."""
    import subprocess

    records = StepRecords(stages.ws.work_dir, warn=log)
    # its inputs are done (this process runs the plan in order), so the request names none
    request = make_request(stages, None, step, invocation, needs=())
    path = write_request(records, request)
    log_path = records.log_dir() / f"{step_slug(step)}.accelerate.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log(f"  {processes.count} processes: accelerate launch --config_file {processes.accelerate_config} "
        f"(log: {log_path})")
    with open(log_path, "w") as output:
        finished = subprocess.run(worker_command(path, processes), stdout=output,
                                  stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if finished.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"accelerate launch of {processes.count} processes exited with {finished.returncode}; "
                           f"the end of {log_path}:\n{tail}")


DRAIN_S = 10  # how long a job relays its worker's output after the worker has ended


def _relay(stream, last: list[str]) -> None:
    """Copy ``stream`` into this process's standard error as it comes; ``last[0]``: its last line."""
    import sys

    for line in stream:
        sys.stderr.write(line)
        sys.stderr.flush()
        last[0] = line.strip() or last[0]


class JobCommand:
    """What a job runs (pickled by submitit): the worker's command, its output streamed into the
    job's log as it comes (submitit's CommandFunction holds it in memory until the command ends,
    so a killed job would leave none)."""

    def __init__(self, command: list[str]):
        self.command = command

    def __call__(self) -> None:
        import subprocess
        import threading

        last = [""]
        process = subprocess.Popen(self.command, stderr=subprocess.PIPE, text=True, errors="replace",
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        reader = threading.Thread(target=_relay, args=(process.stderr, last), daemon=True)
        reader.start()
        process.wait()
        # The job ends with its worker: a process the worker started can hold the pipe open after a
        # killed worker is gone, and reading to its end would keep the job alive as long as that one.
        reader.join(timeout=DRAIN_S)
        if process.returncode != 0:  # its last word ends the error (submitit reports that line)
            raise RuntimeError(f"the step's worker exited with {process.returncode} (its output is in this "
                               f"job's log):\n{last[0]}")

    def checkpoint(self, *args, **kwargs) -> None:
        """submitit's answer to Slurm's warning (USR2, 90 s before the time limit): no requeue, the
        job ends. submitit takes a warning that comes early for a preemption and requeues: a job
        whose time limit was cut would run again and be warned again, for ever. The next submit
        runs the step again (a training run from its last checkpoint)."""
        import sys

        print("the job's time limit is near: it ends here, submit again to run the step on", file=sys.stderr)


def submit_local(records: StepRecords, command: list[str], timeout_min: int, gpu: int | None = None):
    """Run ``command`` as a job of submitit's local executor (logs in ``records.log_dir()``),
    seeing only GPU ``gpu`` when one is given; the job."""
    from submitit import LocalExecutor

    executor = LocalExecutor(folder=records.log_dir())
    parameters: dict[str, Any] = {"timeout_min": timeout_min}
    if gpu is not None:
        parameters.update(gpus_per_node=1, visible_gpus=(gpu,))
    executor.update_parameters(**parameters)
    return executor.submit(JobCommand(command))


# ---------------------------------------------------------------- status
def describe_states(plan: Plan, states: dict[tuple, str], records: StepRecords, tail_lines: int = 5,
                    job_state: Callable[[dict], str | None] | None = None) -> str:
    """One line per step: its state, and its job with (``job_state``) what the scheduler says of it."""
    lines = []
    for index, step in enumerate(plan.steps, 1):
        state = states[step.key]
        record = records.read(step) or {}
        submission = records.submission(step) or {}
        job = ""
        if submission.get("job_id") and state != "done":
            said = job_state(submission) if job_state else None
            job = f" (job {submission['job_id']}{': ' + said if said else ''})"
        lines.append(f"  {index:>3}. [{state:>7}] {step.label()}{job}")
        if state == "failed":
            lines.extend(f"         | {line}" for line in failure_lines(record, submission, tail_lines))
    counts = {state: list(states.values()).count(state) for state in dict.fromkeys(states.values())}
    lines.append(", ".join(f"{count} {state}" for state, count in counts.items()))
    return "\n".join(lines)


def failure_lines(record: dict[str, Any], submission: dict[str, Any], tail_lines: int) -> list[str]:
    """The step's error and the last lines of its job's log (its standard error where kept apart)."""
    lines = [record["error"]] if record.get("error") else []
    log = Path(submission["log"]) if submission.get("log") else None
    if log is not None:
        errors = log.with_suffix(".err")
        shown = errors if errors.is_file() and errors.stat().st_size else log
        if shown.is_file():
            lines += [f"{shown.name}: {line}" for line in shown.read_text(errors="replace").splitlines()[-tail_lines:]]
    return lines or ["the job ended without a record (killed, out of time or memory?)"]


def plan_states(plan: Plan, stages: Stages, records: StepRecords, alive: Callable[[dict | None], bool]) -> dict[tuple, str]:
    return {step.key: step_state(step, stages, records, alive) for step in plan.steps}


def process_alive(pid: object, host: object = None) -> bool:
    """Whether process ``pid`` runs (a process of another host is trusted to)."""
    if host is not None and host != socket.gethostname():
        return True
    try:
        state = Path(f"/proc/{int(pid)}/stat").read_text().split(")")[-1].split()[0]
    except (OSError, ValueError, TypeError, IndexError):
        return False
    return state != "Z"  # a zombie has finished


def local_job_alive(submission: dict[str, Any] | None) -> bool:
    """A job of submitit's local executor: its id is its controller's process id."""
    return submission is not None and process_alive(submission.get("job_id"), submission.get("host"))


def wait_until_finished(plan: Plan, stages: Stages, alive=local_job_alive, poll_s: float = 2.0,
                        timeout_s: float | None = None) -> dict[tuple, str]:
    """Poll the steps' records until none is queued or running; their states."""
    records = StepRecords(stages.ws.work_dir)
    started = time.monotonic()
    while True:
        states = plan_states(plan, stages, records, alive)
        if not any(state in LIVE for state in states.values()):
            return states
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError(f"steps still running after {timeout_s} s: {states}")
        time.sleep(poll_s)
