"""Launching a plan elsewhere: Slurm jobs (through submitit's local executor here), --jobs N, the guard.

The end-to-end tests run Table 1's plan for one model (world, preference data, DPO and ASPO,
three evaluations, the table) on the cached mini world with tiny budgets, for real, each step in
its own worker process, and compare every score with the sequential run's.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from launch_helpers import DPO, DPO_EVAL, RENDER, TINY_PLAN

from aspo_repro.errors import UserError
from aspo_repro.orchestration import load_profile, plan_tables, prepare, run, submit
from aspo_repro.orchestration.guard import exclusive_work_dir
from aspo_repro.orchestration.launch import (
    StepRecords,
    StepRequest,
    step_state,
    steps_to_submit,
    wait_until_finished,
)
from aspo_repro.orchestration.slurm import Launcher, build_jobs, sbatch_script
from aspo_repro.orchestration.stages import Invocation, Stages, Workspace
from aspo_repro.orchestration.step_kinds import EVALUATE

REPO = Path(__file__).resolve().parents[2]
DESCRIPTION = "Table 1's plan on the mini world with tiny budgets (the launcher tests)."
TINY_PROFILE = f"description: {DESCRIPTION}\n{TINY_PLAN}"


# ---------------------------------------------------------------- what is submitted
def table1_plan():
    return plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"])


def test_only_what_is_missing_or_failed_is_submitted_with_what_depends_on_it():
    plan = table1_plan()
    states = {step.key: "done" for step in plan.steps}
    states[DPO] = "failed"
    states[DPO_EVAL] = "blocked"
    states[("train", "mini-llava-s", "aspo", 0)] = "running"
    chosen = steps_to_submit(plan, states)
    assert [(step.key, forced) for step, forced in chosen] == [(DPO, False), (DPO_EVAL, True), (RENDER, True)]
    states[DPO], states[DPO_EVAL], states[RENDER] = "queued", "queued", "queued"
    assert steps_to_submit(plan, states) == []  # never a step twice
    states[("prefs", "mini-llava-s")] = "missing"  # a running job made from a step submitted again
    assert ("train", "mini-llava-s", "aspo", 0) in [step.key for step, _ in steps_to_submit(plan, states)]


def test_a_step_record_gives_its_state(tmp_path):
    plan = table1_plan()
    stages = Stages(Workspace(load_profile("mini"), tmp_path / "r", tmp_path / "t", tmp_path / "w"))
    records = StepRecords(tmp_path / "w")
    step = next(s for s in plan.steps if s.key == DPO)
    assert step_state(step, stages, records, lambda submission: True) == "missing"
    records.write(step, "running")
    records.write_submission(step, "123", "slurm")
    assert step_state(step, stages, records, lambda submission: True) == "running"
    assert step_state(step, stages, records, lambda submission: False) == "failed"  # the job died
    records.write(step, "done")
    assert step_state(step, stages, records, lambda submission: True) == "missing"  # its run.json is not there


def test_a_request_survives_json():
    plan = table1_plan()
    step = next(s for s in plan.steps if s.key == DPO_EVAL)
    request = StepRequest("mini", "r", "t", "w", None, step, (plan.steps[3],), Invocation(seeds=2, command="c"), 1, True)
    assert StepRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
    world = StepRequest("mini", "r", "t", "w", None, plan.steps[0], (), Invocation(), 1)
    assert [made.key for made in world.step.beside] == [("scorer", "captions")]  # it goes with the step
    assert StepRequest.from_json(json.loads(json.dumps(world.to_json()))) == world
    # a diagnosis names the scorers it measures with: a worker must not take one made without them as done
    both = plan_tables(["1", "1-scorers"], load_profile("mini"))
    diagnose = next(step for step in both.steps if step.key == ("diagnose", "mini-llava-s"))
    request = StepRequest("mini", "r", "t", "w", None, diagnose, (), Invocation(), 1)
    assert StepRequest.from_json(json.loads(json.dumps(request.to_json()))).step.rescored_by == ("judge-trained",)


def test_the_paper_profiles_jobs_ask_for_gpus_and_wait_for_their_inputs(tmp_path):
    """Table 1 on the paper profile, built and written out as sbatch files, not submitted."""
    reproduction = prepare(["1"], "paper", results_root=tmp_path / "r", work_dir=tmp_path / "w")
    plan, stages = reproduction.plan, reproduction.stages
    records = StepRecords(tmp_path / "w")
    states = {step.key: "missing" for step in plan.steps}
    jobs = {job.step.key: job for job in build_jobs(plan, stages, steps_to_submit(plan, states), records)}
    assert len(jobs) == len(plan.steps) == 19
    ids = {key: str(1000 + index) for index, key in enumerate(jobs)}
    train = jobs[("train", "llava-1.5-7b", "aspo", 0)]
    script = sbatch_script(train, records.log_dir(), ids)
    # time limits: the profile's estimate for the step's model (3600 s; 13B: 7200 s) with a 1.5x margin
    assert "#SBATCH --gpus-per-node=8" in script and "#SBATCH --time=90" in script
    assert f"#SBATCH --dependency=afterok:{ids[('prefs', 'llava-1.5-7b')]}" in script.replace("'", "")
    assert train.command[1:5] == ["-m", "accelerate.commands.launch", "--config_file",
                                  str(REPO / "configs" / "accelerate" / "ddp_8gpu.yaml")]
    assert train.command[5:7] == ["--num_processes", "8"]
    # LLaVA-1.5-13B does not fit 80 GB GPUs under DDP: the memory plan picks ZeRO-2 for its jobs
    large = jobs[("train", "llava-1.5-13b", "aspo", 0)]
    assert large.command[4] == str(REPO / "configs" / "accelerate" / "zero2_8gpu.yaml")
    assert "#SBATCH --time=180" in sbatch_script(large, records.log_dir(), ids)
    assert "#SBATCH --time=810" in sbatch_script(jobs[("evaluate", "llava-1.5-13b", "aspo", 0)], records.log_dir(), ids)
    assert train.command[-3:] == ["-m", "aspo_repro.orchestration.worker", str(records.request_path(train.step))]
    evaluation = sbatch_script(jobs[("evaluate", "llava-1.5-7b", "aspo", 0)], records.log_dir(), ids)
    assert "#SBATCH --gpus-per-node=1" in evaluation
    assert f"afterok:{ids[('train', 'llava-1.5-7b', 'aspo', 0)]}" in evaluation
    assert "dependency" not in sbatch_script(jobs[("evaluate", "llava-1.5-7b", "base", 0)], records.log_dir(), ids)
    render = sbatch_script(jobs[RENDER], records.log_dir(), ids).replace("'", "")
    evaluations = [ids[step.key] for step in plan.of_kind(EVALUATE)]
    assert f"--dependency=afterany:{':'.join(evaluations)}" in render  # the table renders whatever exists
    assert "gpus" not in render


def test_slurm_needs_slurm_here(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    reproduction = prepare(["1"], "paper", results_root=tmp_path / "r", work_dir=tmp_path / "w")
    with pytest.raises(UserError, match="needs Slurm's sbatch and srun"):
        submit(reproduction, seeds=None, command="test", log=lambda message: None)


def test_a_second_reproduce_names_the_first_and_can_wait(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path\n"
         "from aspo_repro.orchestration.guard import exclusive_work_dir\n"
         "with exclusive_work_dir(Path(sys.argv[1]), 'the first command'):\n"
         "    print('held', flush=True); time.sleep(3)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError) as error:
        with exclusive_work_dir(tmp_path, "the second command"):
            pass
    assert f"pid {holder.pid}" in str(error.value) and "`the first command`" in str(error.value)
    messages, started = [], time.monotonic()
    with exclusive_work_dir(tmp_path, "the third command", wait=True, log=messages.append):
        assert time.monotonic() - started > 1.5  # it got the lock only when the first let go
        owner = json.loads((tmp_path / ".reproduce.owner.json").read_text())
        assert owner["command"] == "the third command" and owner["pid"] == os.getpid()
    assert "waiting for the other reproduce" in messages[0] and "`the first command`" in messages[0]
    holder.wait()


# ---------------------------------------------------------------- end to end, for real
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    (root / "tiny.yaml").write_text(TINY_PROFILE)
    return root


def reproduce(tiny: Path, name: str, *extra: str, wait=True):
    """The CLI in a subprocess: its completed result, or (``wait=False``) the running process."""
    command = [sys.executable, "-m", "aspo_repro", "reproduce", "--table", "1", "--profile", str(tiny / "tiny.yaml"),
               "--models", "mini-llava-s", "--work-dir", str(tiny / name / "work"),
               "--results", str(tiny / name / "results"), "--tables-dir", str(tiny / name / "tables"), *extra]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, cwd=tiny)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tiny)


def scores(results: Path) -> dict[str, dict]:
    return {str(path.relative_to(results)): json.loads(path.read_text())["scores"]
            for path in sorted(results.rglob("eval.json"))}


# submitit's local executor stands in for Slurm where there is none; where a real one is required
# (CI: ASPO_REQUIRE_SLURM=1), test_slurm_cluster.py checks the same semantics against it
REAL_SLURM_CHECKS_THE_SAME = pytest.mark.skipif(
    os.environ.get("ASPO_REQUIRE_SLURM") == "1", reason="the real Slurm's tests (test_slurm_cluster.py) check the same")


@pytest.fixture(scope="module")
def sequential(tiny):
    """The reference: the plan run in turn. Two more reproduce commands race it on its work directory."""
    first = reproduce(tiny, "sequential", wait=False)
    owner = tiny / "sequential" / "work" / ".reproduce.owner.json"
    deadline = time.monotonic() + 60
    while not owner.is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    second = reproduce(tiny, "sequential")  # at once, without --wait
    third = reproduce(tiny, "sequential", "--wait", wait=False)
    out, err = first.communicate()
    assert first.returncode == 0, err
    third_out, third_err = third.communicate()
    return {"results": scores(tiny / "sequential" / "results"), "first": (out, err, first.pid),
            "second": (second.returncode, second.stderr), "third": (third.returncode, third_out)}


@pytest.mark.slow
def test_two_reproduce_commands_on_one_work_directory_do_not_collide(sequential):
    _, _, first_pid = sequential["first"]
    code, err = sequential["second"]
    assert code == 2 and "another reproduce is running on" in err and f"pid {first_pid}" in err
    assert "reproduce --table 1" in err  # it names the other command
    code, out = sequential["third"]  # waited, then found the first one's work done
    # the world and the table always run; the rest, the world's scorer step and the diagnosis included, is reused
    assert code == 0 and "2 steps ran, 8 reused, 0 failed" in out
    assert len(sequential["results"]) == 3


@pytest.mark.slow
@REAL_SLURM_CHECKS_THE_SAME
def test_slurm_semantics_on_the_local_executor(tiny, sequential, failing_step):
    """Every step a job that waits for its inputs; a failure blocks only what depends on it;
    submitting again submits only that; the results are the sequential run's, exactly."""
    reproduction = prepare(["1"], str(tiny / "tiny.yaml"), models=["mini-llava-s"], results_root=tiny / "jobs" / "results",
                           tables_dir=tiny / "jobs" / "tables", work_dir=tiny / "jobs" / "work")
    failing_step("train dpo on mini-llava-s (seed 0)")
    quiet = lambda message: None  # noqa: E731
    first = submit(reproduction, seeds=None, command="test", cluster="local", log=quiet)
    assert len(first) == 10
    states = wait_until_finished(reproduction.plan, reproduction.stages, timeout_s=900)
    assert states.pop(DPO) == "failed" and states.pop(DPO_EVAL) == "blocked"
    assert set(states.values()) == {"done"}  # ASPO, the base model and the table went on
    failing_step(None)
    launcher = Launcher(reproduction.plan, reproduction.stages, "local", log=quiet)
    again = launcher.submit(Invocation(command="test"))
    assert set(again) == {DPO, DPO_EVAL, RENDER}
    assert launcher.submit(Invocation(command="test")) == {}  # queued or running: never twice
    states = wait_until_finished(reproduction.plan, reproduction.stages, timeout_s=900)
    assert set(states.values()) == {"done"}
    assert scores(tiny / "jobs" / "results") == sequential["results"]
    assert (tiny / "jobs" / "tables" / "table1.md").is_file()


@pytest.mark.slow
def test_local_jobs_run_at_once_with_the_same_results(tiny, sequential, monkeypatch):
    """--jobs 2 as on a machine with two GPUs: each step's process sees one GPU, never a busy one
    (here CUDA_VISIBLE_DEVICES names devices the CPU run does not use; the results are the CPU's)."""
    from aspo_repro.orchestration import parallel

    monkeypatch.setattr(parallel, "gpu_count", lambda: 2)
    reproduction = prepare(["1"], str(tiny / "tiny.yaml"), models=["mini-llava-s"], results_root=tiny / "parallel" / "results",
                           tables_dir=tiny / "parallel" / "tables", work_dir=tiny / "parallel" / "work")
    run(reproduction, seeds=None, command="test", jobs=2, log=lambda message: None)
    # every step ran but the data's scorer, made with the world the sequential run built
    reused = [o.step.key for o in reproduction.report.outcomes if o.status != "ran"]
    assert reproduction.report.ok and reused == [("scorer", "judge-trained")]
    assert scores(tiny / "parallel" / "results") == sequential["results"]
    records = [StepRecords(tiny / "parallel" / "work").read(step) for step in reproduction.plan.steps
               if step.key not in reused]
    assert {record["devices"] for record in records} == {"0", "1"}  # one GPU each, both used
    spans = [(r["started_at"], r["started_at"] + r["seconds"], r["devices"]) for r in records]
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "no two steps ran at once"
    assert all(a[2] != b[2] for a, b in overlapping)  # never two at once on one GPU
    assert os.listdir(tiny / "parallel" / "work" / "launch" / "jobs")  # each step's log


@pytest.mark.slow
def test_local_jobs_on_a_cpu_run_in_two_processes_with_the_same_results(tiny, sequential, monkeypatch):
    """--jobs 2 on a CPU: the steps run in two processes started once, at the threads of a run in turn
    (the same weights: the same scores), two at once; the world step, whose stages keep the cores busy
    themselves, runs alone in the launching process."""
    from aspo_repro.orchestration import parallel

    monkeypatch.setattr(parallel, "gpu_count", lambda: 0)
    root = tiny / "pool"
    reproduction = prepare(["1"], str(tiny / "tiny.yaml"), models=["mini-llava-s"], results_root=root / "results",
                           tables_dir=root / "tables", work_dir=root / "work")
    lines = []
    run(reproduction, seeds=None, command="test", jobs=2, log=lines.append)
    reused = [o.step.key for o in reproduction.report.outcomes if o.status != "ran"]
    assert reproduction.report.ok and reused == [("scorer", "judge-trained")]
    assert scores(root / "results") == sequential["results"]
    ran = [step for step in reproduction.plan.steps if step.key not in reused]
    records = {step.key: StepRecords(root / "work").read(step) for step in ran}
    pooled = {key: record for key, record in records.items() if key != ("world",)}
    pids = {record["pid"] for record in pooled.values()}  # the process that wrote each step's record
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, each taking many steps
    spans = [(r["started_at"], r["started_at"] + r["seconds"]) for r in pooled.values()]
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:]), "no two at once"
    assert records[("world",)]["status"] == "done" and records[("world",)]["pid"] == os.getpid()
    assert any(line.startswith("[1/") and "done in" in line for line in lines)  # the world, in this process
    logs = root / "work" / "launch" / "jobs"
    assert len(list(logs.glob("*.log"))) == len(pooled) and any(path.stat().st_size for path in logs.glob("*.log"))


@pytest.mark.slow
@REAL_SLURM_CHECKS_THE_SAME
def test_cancel_stops_the_plans_jobs(tiny):
    reproduction = prepare(["1"], str(tiny / "tiny.yaml"), models=["mini-llava-s"], results_root=tiny / "cancel" / "results",
                           tables_dir=tiny / "cancel" / "tables", work_dir=tiny / "cancel" / "work")
    quiet = lambda message: None  # noqa: E731
    submitted = submit(reproduction, seeds=None, command="test", cluster="local", log=quiet)
    cancelled = submit(reproduction, seeds=None, command="test", cluster="local", cancel=True, log=quiet)
    # nothing had finished yet (the judge-trained scorer's job too, though its output was made before)
    assert {step.key for step in cancelled} == set(submitted)
    time.sleep(5)  # what a cancelled job would have written by now
    records = StepRecords(tiny / "cancel" / "work")
    assert {records.status(step) for step in reproduction.plan.steps} == {"failed"}
    assert not (tiny / "cancel" / "results").exists()
