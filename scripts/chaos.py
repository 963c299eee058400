"""Kill a mini-smoke reproduction at random points N times, then compare its results with an uninterrupted run's.

    python scripts/chaos.py --launcher local -n 4             # SIGKILL `reproduce` mid-step, run it again
    python scripts/chaos.py --launcher slurm -n 4             # kill the running job mid-step, submit again
    python scripts/chaos.py --launcher slurm -n 4 --reference RESULTS --slurmd-restart

The plan is `reproduce --table 5 --profile mini-smoke --models mini-llava-s --seeds 1` in a fresh
directory (--profile and --table choose another, e.g. a profile file with tiny budgets). Each kill targets a step kind in turn (preference generation, training, evaluation,
rendering) and lands at a random moment of a step of that kind, drawn between 0 and the profile's
estimate of the kind (a step that ends first is a miss: the next step of the kind is tried):

- local: the `reproduce` process and its children get SIGKILL; the same command is run again.
- slurm: the step's job is killed: preference generation by its time limit cut to one minute
  (`scontrol update`; Slurm ends it: TIMEOUT), training and rendering by a SIGKILL of the worker,
  evaluation by `scancel`; the same command submits again once the job has ended.
  --slurmd-restart restarts slurmd while a job runs (nothing should be lost).

Then it runs the plan to its end and checks that every step was completed once (a step that
finished is never redone: only what a kill lost runs again; the world and the table are made at
every invocation) and that every score equals the uninterrupted run's (--reference RESULTS: a
results root of the same plan, else the script runs it first with the sequential launcher).
It prints the kills per step kind, the reruns and whether the results are identical; exit 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = ("prefs", "train", "evaluate", "render")
# how the job of a step of each kind is killed: preference generation lasts longest, so it is the
# one a cut time limit (one minute, Slurm's least) reaches
SLURM_KILLS = {"prefs": "timeout", "train": "sigkill", "evaluate": "scancel", "render": "sigkill"}
MODEL = "mini-llava-s"
ALWAYS_RUN = ("world", "render")  # kinds made again at every invocation
POLL_S = 0.5


PROFILE, TABLE = "mini-smoke", "5"  # --profile, --table


def reproduce_command(root: Path, launcher: str) -> list[str]:
    return [sys.executable, "-m", "aspo_repro", "reproduce", "--table", TABLE, "--profile", PROFILE, "--models", MODEL,
            "--seeds", "1", "--launcher", launcher, "--results", str(root / "results"),
            "--tables-dir", str(root / "tables"), "--work-dir", str(root / "work")]


def plan_steps(root: Path):
    from aspo_repro.orchestration import prepare

    reproduction = prepare([TABLE], PROFILE, models=[MODEL], seeds=1, results_root=root / "results",
                           tables_dir=root / "tables", work_dir=root / "work")
    return reproduction, {step.label(): step for step in reproduction.plan.steps}


class Chaos:
    """The kills made, the misses, and every step started (to count reruns)."""

    def __init__(self, root: Path, launcher: str, kills: int, rng: random.Random, log=print):
        self.root, self.launcher, self.wanted, self.rng, self.log = root, launcher, kills, rng, log
        self.reproduction, self.steps = plan_steps(root)
        self.estimates = self.reproduction.stages.ws.profile.estimates
        self.kills: list[tuple[str, str, str, float]] = []  # (kind, step label, how, seconds into the step)
        self.misses = Counter()
        self.restarts = 0  # slurmd restarts (not kills: nothing should be lost)
        self.invocations = 0

    def next_kind(self, done: set[str]) -> str | None:
        """The kind the next kill targets: the kinds in turn, skipping those with no step left to run."""
        turn = len(self.kills) % len(KINDS)
        for kind in KINDS[turn:] + KINDS[:turn]:
            if any(step.kind.name == kind and label not in done for label, step in self.steps.items()):
                return kind
        return None

    def delay(self, kind: str) -> float:
        return self.rng.uniform(0.0, 0.8 * max(2.0, float(self.estimates.get(kind, 10))))


# ---------------------------------------------------------------- the local launcher
def run_local(chaos: Chaos) -> dict[str, int]:
    """Kill `reproduce` N times mid-step, then run it to its end; completions per step label."""
    completed: Counter = Counter()
    while True:
        killing = len(chaos.kills) < chaos.wanted
        if not run_local_once(chaos, completed, kill=killing) or not killing:
            return completed


def run_local_once(chaos: Chaos, completed: Counter, kill: bool) -> bool:
    """One `reproduce`; with ``kill``, SIGKILLed at a random moment of a step of the targeted kind.
    True when it was killed (and must run again)."""
    chaos.invocations += 1
    process = subprocess.Popen(reproduce_command(chaos.root, "local"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    running: dict[str, float] = {}  # the step this process runs now, since when
    lines = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            started = re.match(r"\[\d+/\d+\] (.*) \.\.\.$", line.rstrip())
            finished = re.match(r"\[\d+/\d+\] (.*): done in ", line)
            if started:
                running.clear()
                running[started.group(1)] = time.monotonic()
            elif finished:
                completed[finished.group(1)] += 1
                running.pop(finished.group(1), None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while kill and process.poll() is None:
        kind = chaos.next_kind({label for label in completed})
        if kind is None:
            break
        label = wait_for_local_step(process, running, chaos.steps, kind)
        if label is None:
            break
        after = chaos.delay(kind)
        time.sleep(max(0.0, after - (time.monotonic() - running.get(label, time.monotonic()))))
        if label in running and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            chaos.kills.append((kind, label, "SIGKILL", round(after, 1)))
            chaos.log(f"kill {len(chaos.kills)}: SIGKILL `reproduce` {after:.1f} s into {label}")
            process.wait()
            reader.join()
            return True
        chaos.misses[kind] += 1
    process.wait()
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"reproduce exited with {process.returncode}:\n{''.join(lines[-20:])}")
    return False


def wait_for_local_step(process, running: dict[str, float], steps, kind: str) -> str | None:
    while process.poll() is None:
        label = next(iter(running), None)
        if label is not None and steps[label].kind.name == kind:
            return label
        time.sleep(POLL_S / 5)
    return None


# ---------------------------------------------------------------- the Slurm launcher
def run_slurm(chaos: Chaos, slurmd_restart: bool) -> dict[str, int]:
    """Submit; kill a running job N times mid-step (submitting again once it has ended); then wait
    for the plan to finish; completions per step label (from the jobs' logs)."""
    from aspo_repro.orchestration.launch import StepRecords

    records = StepRecords(chaos.root / "work")
    submit_again(chaos)
    restarted = not slurmd_restart
    while len(chaos.kills) < chaos.wanted:
        done = {label for label, step in chaos.steps.items() if records.status(step) == "done"}
        kind = chaos.next_kind(done)
        if kind is None:
            break
        step, since = wait_for_running_job(chaos, records, kind)
        if step is None:
            break
        if not restarted:
            restart_slurmd(chaos)
            restarted = True
        after = chaos.delay(kind)
        time.sleep(max(0.0, after - (time.time() - since)))
        record = records.read(step) or {}
        if record.get("status") != "running":
            chaos.misses[kind] += 1
            continue
        how = SLURM_KILLS[kind]
        job_id = str(records.submission(step)["job_id"])
        kill_job(how, job_id, record)
        ended = wait_job_ended(job_id)
        if ended == "COMPLETED":  # it finished before the kill took (a time limit it did not reach)
            chaos.misses[kind] += 1
            continue
        chaos.kills.append((kind, step.label(), f"{how} -> {ended}", round(after, 1)))
        chaos.log(f"kill {len(chaos.kills)}: {how} job {job_id} {after:.1f} s into {step.label()}: {ended}")
        submit_again(chaos)
    if not restarted:
        restart_slurmd(chaos)
    wait_plan_finished(chaos)
    return slurm_completions(chaos)


def submit_again(chaos: Chaos) -> None:
    chaos.invocations += 1
    submitted = subprocess.run(reproduce_command(chaos.root, "slurm"), capture_output=True, text=True)
    if submitted.returncode != 0:
        raise SystemExit(f"reproduce --launcher slurm exited with {submitted.returncode}:\n{submitted.stderr[-3000:]}")
    for line in submitted.stdout.splitlines():
        if line.startswith("submitted ") and ": job " in line:
            chaos.log(f"  {line}")


def wait_for_running_job(chaos: Chaos, records, kind: str, timeout_s: float = 1800):
    """A step of ``kind`` whose worker runs, and since when (its record's start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for step in chaos.steps.values():
            record = records.read(step) or {}
            if step.kind.name == kind and record.get("status") == "running" and record.get("job_pid"):
                return step, float(record.get("started_at", time.time()))
        if not live_jobs(chaos, records):
            return None, 0.0
        time.sleep(POLL_S)
    raise SystemExit(f"no {kind} step ran within {timeout_s} s")


def kill_job(how: str, job_id: str, record: dict) -> None:
    if how == "sigkill":
        os.kill(int(record["job_pid"]), signal.SIGKILL)
    elif how == "scancel":
        subprocess.run(["scancel", job_id], check=True)
    else:  # a time limit the job has already passed: Slurm ends it at its next check (TIMEOUT)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=1"], check=True, capture_output=True)


def job_state(job_id: str):
    from aspo_repro.orchestration.slurm import slurm_job_states

    return slurm_job_states([job_id])[job_id]


def wait_job_ended(job_id: str, timeout_s: float = 300) -> str:
    """The job's final state (Slurm's), once it has ended."""
    deadline = time.monotonic() + timeout_s
    while (state := job_state(job_id)).live:
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} still live ({state.describe()}) {timeout_s} s after it was killed\n"
                             + why_live(job_id))
        time.sleep(1)
    return state.state


def why_live(job_id: str) -> str:
    """What Slurm and the machine say of a job that does not end: its record, the processes left,
    the daemons' last log lines that name it."""
    said = ["scontrol show job:", command_output(["scontrol", "show", "job", job_id]),
            "processes of Slurm and of the jobs:"]
    said += [line for line in command_output(["ps", "-eo", "pid,ppid,pgid,stat,etime,args", "--forest"]).splitlines()
             if any(word in line for word in ("slurm", "srun", "python", "git"))]
    config = command_output(["scontrol", "show", "config"])
    for daemon in ("SlurmctldLogFile", "SlurmdLogFile"):
        found = re.search(rf"^{daemon}\s*=\s*(\S+)", config, re.M)
        if found and Path(found.group(1)).is_file():
            lines = Path(found.group(1)).read_text(errors="replace").splitlines()
            said += [f"{daemon}, its last lines naming job {job_id} or the node's state:"]
            said += [line for line in lines if job_id in line or "node" in line.lower()][-25:]
    return "\n".join(said)


def command_output(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


def live_jobs(chaos: Chaos, records) -> list[str]:
    from aspo_repro.orchestration.slurm import slurm_job_states

    ids = [str(s["job_id"]) for s in map(records.submission, chaos.steps.values()) if s]
    return [job_id for job_id, state in slurm_job_states(ids).items() if state.live and not state.never_starts]


def restart_slurmd(chaos: Chaos) -> None:
    """Stop slurmd (SIGTERM, by its pid file) while jobs run, and start it again."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    pid_file = re.search(r"^SlurmdPidFile\s*=\s*(\S+)", config, re.M).group(1)
    pid = int(Path(pid_file).read_text().strip())
    os.kill(pid, signal.SIGTERM)
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        time.sleep(0.2)
    subprocess.run(["nice", "-n", str(os.getpriority(os.PRIO_PROCESS, 0)), shutil.which("slurmd") or "/usr/sbin/slurmd"],
                   check=True)
    chaos.log(f"restarted slurmd (was pid {pid}) while jobs ran")
    chaos.restarts += 1


def wait_plan_finished(chaos: Chaos, timeout_s: float = 3600) -> None:
    """Wait until no job of the plan is live; submit again while a step is missing or failed."""
    from aspo_repro.orchestration.launch import StepRecords

    records = StepRecords(chaos.root / "work")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not live_jobs(chaos, records):
            if all(records.status(step) == "done" for step in chaos.steps.values()):
                return
            chaos.log("  a step is not done and no job runs: submitting again")
            submit_again(chaos)
        time.sleep(2)
    raise SystemExit(f"the plan did not finish within {timeout_s} s")


def slurm_completions(chaos: Chaos) -> dict[str, int]:
    """Per step label, the jobs whose worker ran it to its end (`step ran` in the job logs)."""
    completed: Counter = Counter()
    for log in (chaos.root / "work" / "launch" / "jobs").glob("*_log.out"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("step ran: "):
                completed[line.removeprefix("step ran: ")] += 1
    return completed


# ---------------------------------------------------------------- the verdict
def compare(results: Path, reference: Path) -> list[str]:
    from aspo_repro.results import collect

    index = ["model", "method", "seed", "benchmark"]
    mine = collect(results, "mini").set_index(index)["value"]
    theirs = collect(reference, "mini").set_index(index)["value"]
    problems = []
    if missing := sorted(set(mine.index) - set(theirs.index)):  # the reference may hold more seeds
        problems.append(f"runs the uninterrupted reference lacks: {missing}")
    common = mine.index.intersection(theirs.index)
    differ = mine[common][mine[common] != theirs[common]]
    problems += [f"{key}: {mine[key]} != {theirs[key]}" for key in differ.index]
    return problems


def profile_with_methods(profile: str, methods: list[str], root: Path) -> Path:
    """A copy of ``profile``'s file in ``root`` that runs only ``methods`` (all of them the profile's)."""
    import yaml

    from aspo_repro.files import read_yaml_mapping
    from aspo_repro.orchestration import load_profile

    data = read_yaml_mapping(load_profile(profile).source, "profile")
    unknown = sorted(set(methods) - set(data.get("methods", methods)))
    if unknown:
        raise SystemExit(f"--methods: {', '.join(unknown)} not among the profile's {data['methods']}")
    data["methods"] = methods
    data["description"] = f"{data['description']} (chaos: methods {', '.join(methods)} only)"
    path = root / "chaos-profile.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    global PROFILE, TABLE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launcher", choices=("local", "slurm"), required=True)
    parser.add_argument("-n", "--kills", type=int, default=4, help="kills to make (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill points")
    parser.add_argument("--reference", type=Path,
                        help="results root of an uninterrupted run of the same plan (more seeds allowed)")
    parser.add_argument("--root", type=Path, help="where the reproduction goes (default: a new temporary directory)")
    parser.add_argument("--slurmd-restart", action="store_true", help="slurm: also restart slurmd while a job runs")
    parser.add_argument("--profile", default=PROFILE, help="the plan's profile (default mini-smoke; a YAML file cuts it)")
    parser.add_argument("--table", default=TABLE, help="the plan's table (default 5)")
    parser.add_argument("--methods", help="comma-separated: only these of the profile's methods (a shorter plan, "
                                          "the same runs: e.g. base,dpo,aspo)")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix=f"chaos-{args.launcher}-"))
    PROFILE, TABLE = str(args.profile), args.table
    if args.methods:
        PROFILE = str(profile_with_methods(args.profile, args.methods.split(","), root))
    started = time.monotonic()
    reference = args.reference
    if reference is None:
        reference = root / "reference" / "results"
        print(f"the uninterrupted run: {root / 'reference'}", flush=True)
        subprocess.run(reproduce_command(root / "reference", "local"), check=True, capture_output=True)
    chaos = Chaos(root / "chaos", args.launcher, args.kills, random.Random(args.seed))
    completed = run_local(chaos) if args.launcher == "local" else run_slurm(chaos, args.slurmd_restart)
    redone = {label: count for label, count in completed.items()
              if count != 1 and chaos.steps[label].kind.name not in ALWAYS_RUN}
    missing = [label for label, step in chaos.steps.items()
               if step.kind.name not in ALWAYS_RUN and not completed.get(label)]
    problems = compare(root / "chaos" / "results", reference)
    kills = Counter(kind for kind, *_ in chaos.kills)
    print(json.dumps({
        "launcher": args.launcher, "kills": len(chaos.kills), "slurmd_restarts": chaos.restarts,
        "kills_per_kind": dict(kills), "kills_made": chaos.kills, "misses_per_kind": dict(chaos.misses),
        "invocations": chaos.invocations, "steps_completed_more_than_once": redone, "steps_never_completed": missing,
        "identical": not problems, "differences": problems[:20], "seconds": round(time.monotonic() - started),
        "root": str(root),
    }, indent=1))
    return 0 if not problems and not redone and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
