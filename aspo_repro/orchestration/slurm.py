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
from dataclasses import dataclass
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.orchestration.launch import (
    LIVE,
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

SLURM_LIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "UNKNOWN"}


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
            "time": slurm.time_limit_min(step.kind.name, stages.ws.profile.estimate(step.kind.name, step.on_model)),
            "cpus_per_task": resources.cpus,
            "mem": f"{resources.mem_gb}G",
            "stderr_to_stdout": True,
            **({"gpus_per_node": gpus} if gpus else {}),
            **({"partition": slurm.partition} if slurm.partition else {}),
            **({"account": slurm.account} if slurm.account else {}),
            **({"setup": list(slurm.setup)} if slurm.setup else {}),
            **({"additional_parameters": dict(slurm.extra)} if slurm.extra else {}),
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
    """Jobs submitted with sbatch (through submitit), read back with squeue/sacct, cancelled with scancel."""

    name = "slurm"

    def submit(self, job: JobSpec, job_ids: dict[tuple, str], records: StepRecords):
        from submitit import SlurmExecutor
        from submitit.helpers import CommandFunction

        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise UserError("--launcher slurm needs Slurm's sbatch and srun on this machine, and they are not "
                            "on PATH; run from a login node of the cluster (or use --launcher local)")
        executor = SlurmExecutor(folder=records.log_dir())
        dependency = job.dependency(job_ids)
        executor.update_parameters(**job.parameters, **({"dependency": dependency} if dependency else {}))
        return executor.submit(CommandFunction(job.command, verbose=False))

    def alive(self, submission: dict[str, Any], records: StepRecords) -> bool:
        return self._job(submission, records).state.split(" ")[0] in SLURM_LIVE

    def cancel(self, submission: dict[str, Any], records: StepRecords) -> None:
        self._job(submission, records).cancel(check=False)

    @staticmethod
    def _job(submission: dict[str, Any], records: StepRecords):
        from submitit.slurm.slurm import SlurmJob

        return SlurmJob(folder=records.log_dir(), job_id=str(submission["job_id"]))


class LocalCluster:
    """The same jobs through submitit's local executor: each a process on this machine, no Slurm
    (the tests' stand-in of a cluster); a job waits for its inputs' records, not a dependency."""

    name = "local"

    def submit(self, job: JobSpec, job_ids: dict[tuple, str], records: StepRecords):
        return submit_local(records, job.command, job.parameters["time"])

    def alive(self, submission: dict[str, Any], records: StepRecords) -> bool:
        return local_job_alive(submission)

    def cancel(self, submission: dict[str, Any], records: StepRecords) -> None:
        _terminate(submission["job_id"])


CLUSTERS = {cluster.name: cluster for cluster in (SlurmCluster(), LocalCluster())}


class Launcher:
    """Submits, reports and cancels one plan's jobs on a cluster (Slurm, or submitit's local one)."""

    def __init__(self, plan: Plan, stages: Stages, cluster: str = "slurm", log=print):
        if cluster not in CLUSTERS:
            raise UserError(f"unknown cluster {cluster!r}; known: {', '.join(CLUSTERS)}")
        self.plan, self.stages, self.cluster, self.log = plan, stages, CLUSTERS[cluster], log
        self.records = StepRecords(stages.ws.work_dir, warn=log)

    # ------------------------------------------------------------------ state
    def alive(self, submission: dict[str, Any] | None) -> bool:
        """Whether the cluster that ran the submission still holds its job (queued or running)."""
        if submission is None:
            return False
        return CLUSTERS[submission.get("cluster", SlurmCluster.name)].alive(submission, self.records)

    def states(self) -> dict[tuple, str]:
        return plan_states(self.plan, self.stages, self.records, self.alive)

    # ------------------------------------------------------------------ submit
    def submit(self, invocation: Invocation, dry_run: bool = False) -> dict[tuple, str]:
        """Submit what is missing or failed; the job ids by step key (placeholders on a dry run)."""
        states = self.states()
        self.log(describe_states(self.plan, states, self.records))
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
        self._cancel([step for step, _ in steps if states[step.key] in LIVE])  # they wait on a job resubmitted now
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
            write_request(self.records, make_request(self.stages, self.plan, job.step, invocation, force=job.force))
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
        """Cancel every queued or running job of this plan; the steps cancelled."""
        states = self.states()
        steps = [step for step in self.plan.steps if states[step.key] in LIVE]
        self._cancel(steps)
        for step in steps:
            self.log(f"cancelled {step.label()}")
        return steps

    def _cancel(self, steps: list[Step]) -> None:
        for step in steps:
            submission = self.records.submission(step)
            if submission is None:
                continue
            CLUSTERS[submission.get("cluster", SlurmCluster.name)].cancel(submission, self.records)
            self.records.write(step, "failed", error="cancelled")


def _terminate(pid: str) -> None:
    try:
        os.killpg(int(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError, ValueError):
        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
