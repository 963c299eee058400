"""``reproduce --launcher slurm`` against a real Slurm (scripts/slurm/up starts a one-node cluster).

Table 1's plan for one model with tiny budgets (world, preference data, DPO and ASPO, three
evaluations, the table: 8 jobs), each step an sbatch job that asks for one core, so that two run
at once on a 2-core node: the dependencies Slurm holds, a failure that blocks only what depends on
it, the resubmission of exactly that, a cancel that leaves no job and no worker behind, and every
score equal to the sequential run's. Skipped where there is no Slurm.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from launch_helpers import DPO, DPO_EVAL, RENDER, TINY_PLAN

from aspo_repro.orchestration import prepare, run, submit
from aspo_repro.orchestration.launch import LIVE, StepRecords, process_alive
from aspo_repro.orchestration.slurm import Launcher, slurm_job_states
from aspo_repro.orchestration.stages import Invocation


def _no_slurm_reason() -> str | None:
    if shutil.which("sbatch") is None:
        return "no Slurm here: sbatch is not on PATH (scripts/slurm/up starts a one-node cluster)"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    if "UP" not in ping.stdout:
        return f"sbatch is here but slurmctld does not answer `scontrol ping` ({ping.stdout.strip() or ping.stderr.strip()})"
    return None


# CI starts the cluster and sets ASPO_REQUIRE_SLURM=1: there, a cluster that is not up fails these tests
# instead of skipping them (a CI that forgot scripts/slurm/up must not pass)
REQUIRED = os.environ.get("ASPO_REQUIRE_SLURM") == "1"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REQUIRED and _no_slurm_reason() is not None, reason=str(_no_slurm_reason()))]


@pytest.fixture(scope="module", autouse=True)
def cluster_up():
    if (reason := _no_slurm_reason()) is not None:
        pytest.fail(f"ASPO_REQUIRE_SLURM=1 but {reason}")

DESCRIPTION = "Table 1's plan on the mini world with tiny budgets, one core per Slurm job (the cluster tests)."
TINY_PROFILE = f"description: {DESCRIPTION}\n{TINY_PLAN}" + """\
launch:
  slurm:
    steps:
      world: {cpus: 1, mem_gb: 3, time_min: 10}
      prefs: {cpus: 1, mem_gb: 3, time_min: 10}
      train: {cpus: 1, mem_gb: 3, time_min: 10}
      evaluate: {cpus: 1, mem_gb: 3, time_min: 10}
      render: {cpus: 1, mem_gb: 2, time_min: 10}
"""
QUIET = lambda message: None  # noqa: E731


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    (root / "tiny.yaml").write_text(TINY_PROFILE)
    return root


@pytest.fixture(scope="module")
def submitted_plans():
    """The plans a test submits: whatever of theirs is still queued or running at the end is cancelled."""
    plans = []
    yield plans
    for reproduction in plans:
        Launcher(reproduction.plan, reproduction.stages, log=QUIET).cancel()


def reproduction_in(tiny: Path, name: str):
    return prepare(["1"], str(tiny / "tiny.yaml"), models=["mini-llava-s"], results_root=tiny / name / "results",
                   tables_dir=tiny / name / "tables", work_dir=tiny / name / "work")


def scores(results: Path) -> dict[str, dict]:
    return {str(path.relative_to(results)): json.loads(path.read_text())["scores"]
            for path in sorted(results.rglob("eval.json"))}


def wait_for_jobs(launcher: Launcher, timeout_s: float = 1800) -> dict[tuple, str]:
    """Poll squeue/sacct until no step of the plan is queued or running; the steps' states."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = launcher.states()
        if not any(state in LIVE for state in states.values()):
            return states
        assert time.monotonic() < deadline, f"jobs still queued or running after {timeout_s} s: {states}"
        time.sleep(3)


def job_id(launcher: Launcher, key: tuple) -> str:
    step = next(step for step in launcher.plan.steps if step.key == key)
    return str(launcher.records.submission(step)["job_id"])


def dependencies(job_ids) -> dict[str, str]:
    """squeue's %E of each job still queued: the dependencies it waits on."""
    listed = subprocess.run(["squeue", "-h", "-o", "%i|%E", "-j", ",".join(job_ids)], capture_output=True, text=True)
    return dict(line.split("|", 1) for line in listed.stdout.split())


@pytest.fixture(scope="module")
def sequential(tiny):
    reproduction = reproduction_in(tiny, "sequential")
    run(reproduction, seeds=None, command="test", log=QUIET)
    assert reproduction.report.ok
    return scores(tiny / "sequential" / "results")


def test_a_failure_blocks_its_dependents_and_is_resubmitted_with_them(tiny, sequential, failing_step, submitted_plans):
    reproduction = reproduction_in(tiny, "jobs")
    submitted_plans.append(reproduction)
    failing_step("train dpo on mini-llava-s (seed 0)")
    first = submit(reproduction, seeds=None, command="test", log=QUIET)
    assert len(first) == 10 and all(value.isdigit() for value in first.values())
    waits = dependencies(first.values())
    assert waits[first[DPO_EVAL]].startswith(f"afterok:{first[DPO]}")  # Slurm holds the order
    assert all(f"afterany:{first[key]}" in waits[first[RENDER]] for key in first if key[0] == "evaluate")

    launcher = Launcher(reproduction.plan, reproduction.stages, log=QUIET)
    states = wait_for_jobs(launcher)
    assert states.pop(DPO) == "failed" and states.pop(DPO_EVAL) == "blocked"
    assert set(states.values()) == {"done"}  # ASPO, the base model and the table went on
    assert slurm_job_states([first[DPO]])[first[DPO]].state == "FAILED"
    # its dependency can never be satisfied: Slurm cancels it (--kill-on-invalid-dep), and the
    # table, which waits for it with afterany, renders what exists
    assert slurm_job_states([first[DPO_EVAL]])[first[DPO_EVAL]].state == "CANCELLED"

    failing_step(None)
    again = launcher.submit(Invocation(command="test"))
    assert set(again) == {DPO, DPO_EVAL, RENDER}  # exactly the failed step and what depends on it
    assert launcher.submit(Invocation(command="test")) == {}  # queued or running: never twice
    assert set(wait_for_jobs(launcher).values()) == {"done"}
    assert scores(tiny / "jobs" / "results") == sequential
    assert (tiny / "jobs" / "tables" / "table1.md").is_file()
    logs = tiny / "jobs" / "work" / "launch" / "jobs"
    assert {f"{job}_0_log.out" for job in again.values()} <= {path.name for path in logs.iterdir()}


def test_the_same_command_again_prints_each_steps_state_from_slurm(tiny, sequential):
    """Run after the test above: the CLI reads every job back (sacct or squeue) and submits nothing."""
    command = [sys.executable, "-m", "aspo_repro", "reproduce", "--table", "1", "--profile", str(tiny / "tiny.yaml"),
               "--models", "mini-llava-s", "--launcher", "slurm", "--work-dir", str(tiny / "jobs" / "work"),
               "--results", str(tiny / "jobs" / "results"), "--tables-dir", str(tiny / "jobs" / "tables")]
    shown = subprocess.run(command, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "10 done" in shown.stdout and "nothing to submit" in shown.stdout


def test_cancel_leaves_no_job_and_no_worker(tiny, submitted_plans):
    reproduction = reproduction_in(tiny, "cancel")
    submitted_plans.append(reproduction)
    submitted = submit(reproduction, seeds=None, command="test", log=QUIET)
    launcher = Launcher(reproduction.plan, reproduction.stages, log=QUIET)
    records = StepRecords(tiny / "cancel" / "work")
    deadline = time.monotonic() + 900
    while "running" not in launcher.states().values():  # a worker has started
        assert time.monotonic() < deadline, "no job started in 900 s"
        time.sleep(1)
    workers = [record["job_pid"] for record in map(records.read, reproduction.plan.steps)
               if record and record.get("status") == "running"]
    cancelled = submit(reproduction, seeds=None, command="test", cancel=True, log=QUIET)
    assert cancelled and workers
    assert not [job for job, state in slurm_job_states(list(submitted.values())).items() if state.live]
    assert not any(process_alive(pid) for pid in workers)
    states = launcher.states()
    # every cancelled job's record says so; a step whose output was made before (the world's judge-trained
    # scorer, whose job waited for the world's) stays done
    assert {records.status(step) for step in cancelled} == {"failed"}
    assert {states[step.key] for step in cancelled if not reproduction.stages.is_done(step)} == {"failed"}
    assert set(states.values()) <= {"done", "failed"}  # nothing queued or running is left
