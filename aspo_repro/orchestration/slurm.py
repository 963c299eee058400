"""``reproduce --launcher slurm``: a plan as Slurm jobs, submitted with submitit.

One job per step, ``afterok`` on the jobs of the steps it needs (``afterany`` for a table), the
resources of its kind from the profile (``launch.slurm`` in the profile YAML). ``submit`` returns
once the jobs are queued; called again it reports each step's state, submits only what is missing
or failed (and what depends on it) and never a step whose job is queued or running.

``cluster="local"`` runs the same jobs through submitit's local executor (no Slurm), which starts
every job at once: the workers' waiting on their needs' records then keeps the order (the tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.orchestration.launch import (
    LIVE,
    JobCommand,
    StepRecords,
    describe_states,
    local_job_alive,
    make_request,
    needs_of,
    plan_states,
    step_processes,
    steps_to_submit,
    submit_local,
    worker_command,
    write_request,
)
from aspo_repro.orchestration.plan import Plan, Step
from aspo_repro.orchestration.stages import Invocation, Stages

SLURM_LIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
              "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
# a pending job with this reason will never start: a job it depends on did not end as it required
NEVER_STARTS = {"DependencyNeverSatisfied"}
CANCEL_WAIT_S = 180  # --cancel waits this long for the cancelled jobs to end (Slurm's KillWait is 30 s by default)


@dataclass(frozen=True)
class JobState:
    """A job's state as the scheduler reports it: Slurm's (PENDING, RUNNING, COMPLETED, FAILED,
    CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL ...), ENDED for a local job, UNKNOWN for a job
    no one knows any more; with the reason a pending job waits."""

    state: str
    reason: str = ""

    @property
    def live(self) -> bool:
        return self.state in SLURM_LIVE

    @property
    def never_starts(self) -> bool:
        return self.state == "PENDING" and self.reason in NEVER_STARTS

    def describe(self) -> str:
        waits = self.reason not in ("", "None", "(null)")
        return f"{self.state}, {self.reason}" if self.state == "PENDING" and waits else self.state


def slurm_job_states(job_ids: list[str]) -> dict[str, JobState]:
    """The jobs' states: squeue's for the jobs the controller holds (pending, running, or ended
    within its MinJobAge), sacct's for older ones; UNKNOWN for a job neither knows (it has ended)."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    queue = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%r", "-j", ",".join(ids)],
                           capture_output=True, text=True)
    if queue.returncode != 0 and "Invalid job id" not in queue.stderr:
        # no answer is not "every job ended": submitting again would run every step twice
        raise UserError(f"squeue failed (exit {queue.returncode}): {queue.stderr.strip() or queue.stdout.strip()}; "
                        "is slurmctld up? (try `scontrol ping`)")
    states = _parse_states(queue.stdout)
    forgotten = [job_id for job_id in ids if job_id not in states]
    if forgotten:
        accounting = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(forgotten)],
                                    capture_output=True, text=True)
        states.update(_parse_states(accounting.stdout) if accounting.returncode == 0 else {})
    return {job_id: states.get(job_id, JobState("UNKNOWN")) for job_id in ids}


def _parse_states(output: str) -> dict[str, JobState]:
    """``JOBID|STATE[|REASON]`` lines; sacct writes ``CANCELLED by 0``."""
    states = {}
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) >= 2 and fields[0]:
            states[fields[0]] = JobState(fields[1].split(" ")[0], fields[2] if len(fields) > 2 else "")
    return states


@dataclass(frozen=True)
class JobSpec:
    """One step as a job: what it runs, what it asks for, which jobs it waits for."""

    step: Step
    command: list[str]
    parameters: dict[str, Any]  # SlurmExecutor.update_parameters, without the dependency
    after: tuple[Step, ...]
    after_any: bool  # a table waits for its evaluations to end, whether they succeed or not
    force: bool = False  # run even if its output exists (made from a step that runs again)

    def dependency(self, job_ids: dict[tuple, str]) -> str | None:
        ids = [job_ids[need.key] for need in self.after if need.key in job_ids]
        if not ids:
            return None
        return f"{'afterany' if self.after_any else 'afterok'}:{':'.join(ids)}"


def build_jobs(plan: Plan, stages: Stages, steps: list[tuple[Step, bool]], records: StepRecords) -> list[JobSpec]:
    """The jobs of ``steps`` (each with whether it is forced), with the profile's resources per
    kind; nothing is written."""
    slurm = stages.ws.profile.launch.slurm
    jobs = []
    for step, force in steps:
        resources = slurm.steps[step.kind.name]
        gpus = job_gpus(stages, step, resources)
        processes = step_processes(stages, step, gpus, slurm.gpu_memory_gb, resources.accelerate_config)
        parameters = {
            "job_name": f"aspo-{step.kind.name}",
            "time": slurm.time_limit_min(step.kind.name, step.kind.estimate(stages.ws.profile, step)),
            "cpus_per_task": resources.cpus,
            "mem": f"{resources.mem_gb}G",
            "stderr_to_stdout": True,
            **({"gpus_per_node": gpus} if gpus else {}),
            **({"partition": slurm.partition} if slurm.partition else {}),
            **({"account": slurm.account} if slurm.account else {}),
            **({"setup": list(slurm.setup)} if slurm.setup else {}),
            # the job runs in the environment of the command that submits it (the venv, $HF_HOME,
            # $ASPO_CACHE_DIR ...), whatever the site's default; a job whose dependency fails is
            # cancelled, not kept pending for ever (the table's afterany then holds it back for ever);
            # a profile's extra may say otherwise
            "additional_parameters": {"export": "ALL", "kill_on_invalid_dep": "yes", **slurm.extra},
        }
        command = worker_command(records.request_path(step), processes)
        jobs.append(JobSpec(step, command, parameters, needs_of(plan, step), step.kind.runs_after_failed_needs, force))
    return jobs


def job_gpus(stages: Stages, step: Step, resources) -> int:
    """The GPUs a job asks for: its kind's ``gpus``; for a kind that spans processes, the profile's
    ``train.processes`` when it names a count and the step asks for GPUs at all."""
    count = stages.ws.profile.train.processes
    return count if step.kind.spans_processes and count and resources.gpus else resources.gpus


def sbatch_script(job: JobSpec, folder, job_ids: dict[tuple, str]) -> str:
    """The sbatch file submitit would write for ``job`` (for ``--dry-run`` and the tests), made by
    the function ``SlurmExecutor`` writes it with (the executor itself needs Slurm to exist)."""
    import shlex
    import sys

    from submitit.slurm.slurm import _make_sbatch_string

    dependency = job.dependency(job_ids)
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, **job.parameters,
                               **({"dependency": dependency} if dependency else {}))


class SlurmCluster:
    """Jobs submitted with sbatch (through submitit), read back with squeue (sacct for those
    squeue has forgotten), cancelled with scancel."""

    name = "slurm"
    needs_end_first = True  # a job starts once the jobs it depends on have ended

    def submit(self, job: JobSpec, job_ids: dict[tuple, str], records: StepRecords):
        from submitit import SlurmExecutor
        from submitit.core.utils import FailedJobError

        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise UserError("--launcher slurm needs Slurm's sbatch and srun on this machine, and they are not "
                            "on PATH; run from a login node of the cluster (or use --launcher local)")
        executor = SlurmExecutor(folder=records.log_dir())
        dependency = job.dependency(job_ids)
        executor.update_parameters(**job.parameters, **({"dependency": dependency} if dependency else {}))
        try:
            return executor.submit(JobCommand(job.command))
        except FailedJobError as error:
            raise UserError(f"sbatch refused the job of {job.step.label()}: {_sbatch_error(error)} (its "
                            f"resources: launch.slurm.steps.{job.step.kind.name} and launch.slurm.partition "
                            f"of the profile: {_requested(job.parameters)})") from None

    def read_states(self, submissions: list[dict[str, Any]]) -> dict[str, JobState]:
        return slurm_job_states([str(submission["job_id"]) for submission in submissions])

    def cancel(self, job_ids: list[str]) -> None:
        if job_ids:
            subprocess.run(["scancel", *job_ids], check=False, capture_output=True, text=True)


class LocalCluster:
    """The same jobs through submitit's local executor: each a process on this machine, no Slurm
    (the tests' stand-in of a cluster); a job waits for its inputs' records, not a dependency."""

    name = "local"
    needs_end_first = False  # every job starts at once: its worker waits for its needs' records

    def submit(self, job: JobSpec, job_ids: dict[tuple, str], records: StepRecords):
        return submit_local(records, job.command, job.parameters["time"])

    def read_states(self, submissions: list[dict[str, Any]]) -> dict[str, JobState]:
        return {str(submission["job_id"]): JobState("RUNNING" if local_job_alive(submission) else "ENDED")
                for submission in submissions}

    def cancel(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            _terminate(job_id)


CLUSTERS = {cluster.name: cluster for cluster in (SlurmCluster(), LocalCluster())}


class Launcher:
    """Submits, reports and cancels one plan's jobs on a cluster (Slurm, or submitit's local one)."""

    def __init__(self, plan: Plan, stages: Stages, cluster: str = "slurm", log=print):
        if cluster not in CLUSTERS:
            raise UserError(f"unknown cluster {cluster!r}; known: {', '.join(CLUSTERS)}")
        self.plan, self.stages, self.cluster, self.log = plan, stages, CLUSTERS[cluster], log
        self.records = StepRecords(stages.ws.work_dir, warn=log)
        self.jobs: dict[tuple[str, str], JobState] = {}  # (cluster, job id): its state when last read

    # ------------------------------------------------------------------ state
    def read_jobs(self) -> None:
        """Ask each cluster, once, for the state of every job the plan's steps last submitted."""
        by_cluster: dict[str, list[dict[str, Any]]] = {}
        for step in self.plan.steps:
            submission = self.records.submission(step)
            if submission and submission.get("job_id"):
                by_cluster.setdefault(_cluster_of(submission), []).append(submission)
        self.jobs = {(name, job_id): state for name, submissions in by_cluster.items()
                     for job_id, state in CLUSTERS[name].read_states(submissions).items()}

    def job(self, submission: dict[str, Any] | None) -> JobState | None:
        """The state of the submission's job (read now if it was not read with the others)."""
        if not submission or not submission.get("job_id"):
            return None
        key = (_cluster_of(submission), str(submission["job_id"]))
        if key not in self.jobs:
            self.jobs.update({(key[0], job_id): state
                              for job_id, state in CLUSTERS[key[0]].read_states([submission]).items()})
        return self.jobs[key]

    def alive(self, submission: dict[str, Any] | None) -> bool:
        """Whether the cluster that ran the submission still holds its job (queued or running)."""
        job = self.job(submission)
        return job is not None and job.live

    def states(self) -> dict[tuple, str]:
        self.read_jobs()
        states = plan_states(self.plan, self.stages, self.records, self.alive)
        for step in self.plan.steps:  # in plan order: a step's needs have their state first
            if self._never_runs(step, states):
                states[step.key] = "blocked"
        return states

    def _never_runs(self, step: Step, states: dict[tuple, str]) -> bool:
        """A step whose job the scheduler will not start because a step it needs failed: Slurm keeps
        it pending (DependencyNeverSatisfied) or, where kill_invalid_depend is set, cancels it."""
        if states[step.key] in LIVE:
            job = self.job(self.records.submission(step))
            return job is not None and job.never_starts
        return (states[step.key] == "failed" and self.records.status(step) == "queued"
                and any(states[need] in ("failed", "blocked") for need in step.needs))

    def describe_job(self, submission: dict[str, Any]) -> str | None:
        job = self.job(submission)
        return job.describe() if job else None

    # ------------------------------------------------------------------ submit
    def submit(self, invocation: Invocation, dry_run: bool = False) -> dict[tuple, str]:
        """Submit what is missing or failed; the job ids by step key (placeholders on a dry run)."""
        states = self.states()
        self.log(describe_states(self.plan, states, self.records, job_state=self.describe_job))
        steps = steps_to_submit(self.plan, states)
        if not steps:
            self.log("nothing to submit: every step is done, queued or running")
            return {}
        jobs = build_jobs(self.plan, self.stages, steps, self.records)
        live_ids = {step.key: (self.records.submission(step) or {}).get("job_id")
                    for step in self.plan.steps if states[step.key] in LIVE}
        live_ids = {key: job_id for key, job_id in live_ids.items() if job_id}
        if dry_run:
            return self._show(jobs, live_ids)
        # their jobs wait on a job resubmitted now, or on one that failed: they would never start
        self._cancel([step for step, _ in steps if self.alive(self.records.submission(step))])
        return self._submit_all(jobs, invocation, live_ids)

    def _show(self, jobs: list[JobSpec], job_ids: dict[tuple, str]) -> dict[tuple, str]:
        ids = dict(job_ids)
        for job in jobs:
            ids[job.step.key] = f"<{job.step.kind.name}-{len(ids)}>"
            self.log(f"\n# {job.step.label()}: {' '.join(job.command)}")
            self.log(sbatch_script(job, self.records.log_dir(), ids))
        return ids

    def _submit_all(self, jobs: list[JobSpec], invocation: Invocation, job_ids: dict[tuple, str]) -> dict[tuple, str]:
        submitted = {}
        for job in jobs:
            request = make_request(self.stages, self.plan, job.step, invocation, force=job.force,
                                   needs_ended=self.cluster.needs_end_first)
            write_request(self.records, request)
            self.records.write(job.step, "queued")  # before the job exists, so that no dependent misses it
            job_id, log_path = self._submit_one(job, job_ids)
            job_ids[job.step.key] = submitted[job.step.key] = job_id
            self.records.write_submission(job.step, job_id, self.cluster.name, log_path)
            self.log(f"submitted {job.step.label()}: job {job_id}")
        return submitted

    def _submit_one(self, job: JobSpec, job_ids: dict[tuple, str]) -> tuple[str, str]:
        submitted = self.cluster.submit(job, job_ids, self.records)
        return str(submitted.job_id), str(submitted.paths.stdout)

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> list[Step]:
        """Cancel every queued or running job of this plan and wait until they have ended; the steps cancelled.
        A job that has not recorded its step done is cancelled even where the step's output exists (a step
        made before, whose job waits for its inputs: it would otherwise go on and record itself blocked)."""
        steps = [step for step in self.plan.steps
                 if self.records.status(step) != "done" and self.alive(self.records.submission(step))]
        self._cancel(steps)
        for step in steps:
            self.log(f"cancelled {step.label()} (job {self.records.submission(step)['job_id']})")
        self._wait_ended(steps)
        return steps

    def _cancel(self, steps: list[Step]) -> None:
        submissions = {step.key: self.records.submission(step) for step in steps}
        by_cluster: dict[str, list[str]] = {}
        for submission in filter(None, submissions.values()):
            by_cluster.setdefault(_cluster_of(submission), []).append(str(submission["job_id"]))
        for name, job_ids in by_cluster.items():
            CLUSTERS[name].cancel(job_ids)
        for step in steps:
            if submissions[step.key] is not None:
                self.records.write(step, "failed", error="cancelled")

    def _wait_ended(self, steps: list[Step], timeout_s: float = CANCEL_WAIT_S) -> None:
        """Wait until the cancelled jobs have ended (a running one gets SIGTERM, then SIGKILL)."""
        deadline = time.monotonic() + timeout_s
        while steps:
            self.read_jobs()
            steps = [step for step in steps if self.alive(self.records.submission(step))]
            if not steps or time.monotonic() > deadline:
                break
            time.sleep(1)
        for step in steps:
            self.log(f"still ending after {timeout_s:.0f} s: {step.label()} (job {self.records.submission(step)['job_id']})")


def _cluster_of(submission: dict[str, Any]) -> str:
    return submission.get("cluster", SlurmCluster.name)


def _sbatch_error(error: Exception) -> str:
    """sbatch's own words from submitit's error (its standard error), on one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line.removeprefix("sbatch: error: ") for line in lines if line.startswith("sbatch: error:")]
    return "; ".join(said or lines[-1:]) or type(error).__name__


def _requested(parameters: dict[str, Any]) -> str:
    shown = ("partition", "cpus_per_task", "mem", "gpus_per_node", "time", "account")
    return ", ".join(f"{name}={parameters[name]}" for name in shown if name in parameters)


def _terminate(pid: str) -> None:
    try:
        os.killpg(int(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError, ValueError):
        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
