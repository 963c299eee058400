"""Reading Slurm's answers (squeue, sacct, sbatch) into step states, without a Slurm: the commands'
outputs are given. test_slurm_cluster.py runs the launcher against a real one."""

import subprocess
import sys

import pytest

from aspo_repro.errors import UserError
from aspo_repro.orchestration import load_profile, plan_tables
from aspo_repro.orchestration import slurm as slurm_module
from aspo_repro.orchestration.launch import JobCommand, StepRecords
from aspo_repro.orchestration.slurm import JobState, Launcher, _sbatch_error, slurm_job_states
from aspo_repro.orchestration.stages import Stages, Workspace

DPO = ("train", "mini-llava-s", "dpo", 0)
DPO_EVAL = ("evaluate", "mini-llava-s", "dpo", 0)


def answering(monkeypatch, squeue: str, sacct: str = "", squeue_code: int = 0, squeue_error: str = ""):
    """subprocess.run in the slurm module answers squeue and sacct with these outputs; the calls."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        if command[0] == "squeue":
            return subprocess.CompletedProcess(command, squeue_code, squeue, squeue_error)
        return subprocess.CompletedProcess(command, 0, sacct if command[0] == "sacct" else "", "")

    monkeypatch.setattr(slurm_module.subprocess, "run", run)
    return calls


def test_states_come_from_squeue_then_sacct_and_a_forgotten_job_has_ended(monkeypatch):
    calls = answering(monkeypatch, "5|PENDING|DependencyNeverSatisfied\n6|RUNNING|None\n",
                      "3|CANCELLED by 0\n")
    states = slurm_job_states(["3", "5", "6", "9"])
    assert states["5"] == JobState("PENDING", "DependencyNeverSatisfied") and states["5"].never_starts
    assert states["5"].live and states["6"].live and not states["6"].never_starts
    assert states["3"] == JobState("CANCELLED") and not states["3"].live
    assert states["9"].state == "UNKNOWN" and not states["9"].live  # neither knows it: it ended long ago
    assert [command[0] for command in calls] == ["squeue", "sacct"]
    assert calls[1][-1] == "3,9"  # sacct only for what squeue no longer holds
    assert JobState("PENDING", "Dependency").describe() == "PENDING, Dependency"


def test_no_answer_from_the_controller_is_not_taken_for_ended_jobs(monkeypatch):
    answering(monkeypatch, "", squeue_code=1,
              squeue_error="slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
    with pytest.raises(UserError, match="squeue failed .*Unable to contact slurm controller.*scontrol ping"):
        slurm_job_states(["5"])
    answering(monkeypatch, "", squeue_code=1, squeue_error="slurm_load_jobs error: Invalid job id specified")
    assert slurm_job_states(["5"])["5"].state == "UNKNOWN"  # every id forgotten: squeue says so, exit 1


def test_sbatch_refusals_are_one_line():
    error = RuntimeError("sbatch: error: Memory specification can not be satisfied\n"
                         "sbatch: error: Batch job submission failed: Requested node configuration is not available")
    assert _sbatch_error(error) == ("Memory specification can not be satisfied; "
                                    "Batch job submission failed: Requested node configuration is not available")


def test_a_job_waiting_on_a_failed_one_is_blocked_and_its_job_can_be_cancelled(tmp_path, monkeypatch):
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"])
    stages = Stages(Workspace(load_profile("mini"), tmp_path / "r", tmp_path / "t", tmp_path / "w"))
    records = StepRecords(tmp_path / "w")
    steps = {step.key: step for step in plan.steps}
    records.write(steps[DPO], "running")
    records.write_submission(steps[DPO], "6", "slurm")
    records.write(steps[DPO_EVAL], "queued")
    records.write_submission(steps[DPO_EVAL], "7", "slurm")
    answering(monkeypatch, "7|PENDING|DependencyNeverSatisfied\n", "6|FAILED\n")
    states = Launcher(plan, stages, log=lambda message: None).states()
    assert states[DPO] == "failed" and states[DPO_EVAL] == "blocked"
    cancelled = []
    monkeypatch.setattr(slurm_module.SlurmCluster, "cancel", lambda self, job_ids: cancelled.extend(job_ids))
    launcher = Launcher(plan, stages, log=lambda message: None)
    launcher.states()
    launcher._cancel([steps[DPO_EVAL]])
    assert cancelled == ["7"] and records.status(steps[DPO_EVAL]) == "failed"


def test_a_job_streams_its_worker_and_fails_with_its_last_word(capfd):
    command = [sys.executable, "-c", "import sys; print('working'); print('it broke', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(RuntimeError, match="exited with 3 .*\n.*it broke"):
        JobCommand(command)()
    out, err = capfd.readouterr()
    assert "working" in out and "it broke" in err  # in the job's log as it came
    JobCommand([sys.executable, "-c", "pass"])()


def test_a_job_ends_with_its_worker_even_when_a_process_it_started_holds_its_output(monkeypatch):
    """A worker killed while a process it started runs leaves that process holding the job's pipe:
    the job must end with the worker, not wait for the pipe's end."""
    import time

    from aspo_repro.orchestration import launch

    monkeypatch.setattr(launch, "DRAIN_S", 0.5)
    orphan = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); sys.exit(9)"
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with 9"):
        JobCommand([sys.executable, "-c", orphan])()
    assert time.monotonic() - started < 15


def test_a_time_limit_warning_ends_the_job_rather_than_requeue_it(tmp_path):
    """submitit requeues a job warned (USR2) before it thinks the job's time is up unless its
    function has a checkpoint that says no (None): a job whose limit was cut would be requeued for ever."""
    from submitit.core.job_environment import _checkpoint
    from submitit.core.utils import DelayedSubmission

    job = JobCommand(["true"])
    assert hasattr(job, "checkpoint")  # without one, a warning before the time is up requeues the job
    assert _checkpoint(DelayedSubmission(job), tmp_path / "job.pkl", 3) == "checkpoint function returned None"
