"""Carry out a plan: skip what is done, run what is missing, keep going past failures.

One failed step does not lose the others: its dependents are marked blocked, independent
steps still run, and the tables are rendered from whatever exists. Every step's outcome and
time goes to ``<work_dir>/reproduce.jsonl``, the record a closing report is written from.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from aspo_repro.devices import visible_gpus
from aspo_repro.errors import UserError
from aspo_repro.orchestration.memory import seen_gpu_memory_gib
from aspo_repro.orchestration.plan import Plan, Step
from aspo_repro.orchestration.stages import Invocation, Stages
from aspo_repro.provenance import git_revision

# What became of a step (its outcome); ``decide`` answers REUSED, BLOCKED or TO_RUN before it runs.
REUSED, RAN, FAILED, BLOCKED = "reused", "ran", "failed", "blocked"
TO_RUN = "to run"
BLOCKED_BY_FAILURE = "a step it needs failed"  # a blocked step's error


@dataclass
class Outcome:
    step: Step
    status: str
    seconds: float = 0.0
    error: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status(FAILED) and not self.by_status(BLOCKED)

    @property
    def failures(self) -> list[Outcome]:
        return self.by_status(FAILED)

    def summary(self) -> str:
        return (f"{len(self.by_status(RAN))} steps ran, {len(self.by_status(REUSED))} reused, "
                f"{len(self.by_status(FAILED))} failed, {len(self.by_status(BLOCKED))} blocked")


def estimate_seconds(plan: Plan, stages: Stages, jobs: int = 1) -> tuple[int, float]:
    """Steps still to run and how long they take with ``jobs`` steps at once (``plan_seconds``)."""
    done = {step.key for step in plan.steps if stages.is_done(step)}
    return len(plan.steps) - len(done), plan_seconds(plan, stages.ws.profile, _with_work_done(plan, stages, done),
                                                     jobs)


def _with_work_done(plan: Plan, stages: Stages, done: set[tuple]) -> set[tuple]:
    """``done`` and the steps that always run but would find their work done (a built world)."""
    return done | {step.key for step in plan.steps
                   if step.kind.always_runs and step.kind.finds_work_done(stages, step)}


def plan_seconds(plan: Plan, profile, done: set[tuple], jobs: int) -> float:
    """How long the steps not ``done`` take with ``jobs`` at once (``Plan.makespan``), from the profile's
    estimates (what the world step makes beside the world's stages, in its two worker processes, at half
    its own, in the world step's time)."""
    def own(step: Step) -> float:
        return 0.0 if step.key in done else step.kind.estimate(profile, step)

    made_beside = {made.key for step in plan.steps for made in step.beside if step.key not in done}

    def seconds(step: Step) -> float:
        if step.key in made_beside:
            return 0.0
        return own(step) + sum(own(made) for made in step.beside) / 2

    return plan.makespan(seconds, jobs)


def describe_plan(plan: Plan, stages: Stages, jobs: int = 1) -> str:
    done = {step.key for step in plan.steps if stages.is_done(step)}  # once: a stage's check reads its files
    work_done = _with_work_done(plan, stages, done)
    lines = [f"plan for {', '.join(plan.tables)} on profile {stages.ws.profile.name}:"]
    for index, step in enumerate(plan.steps, 1):
        state = "done" if step.key in done else "built" if step.key in work_done else "to run"
        lines.append(f"  {index:>3}. [{state:>6}] {step.label()}")
    seconds = plan_seconds(plan, stages.ws.profile, work_done, jobs)
    at_once = f", {jobs} at once" if jobs > 1 else ""
    lines.append(f"{len(done)} of {len(plan.steps)} steps done; {len(plan.steps) - len(done)} to run{at_once}, "
                 f"estimated {format_seconds(seconds)} on this profile's reference machine")
    return "\n".join(lines)


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def decide(step: Step, failed: set[tuple], rebuilt: set[tuple], stages: Stages) -> str:
    """BLOCKED (a step it needs failed; a table still shows what exists), REUSED (its output is there
    and nothing it is made from was rebuilt now) or TO_RUN (missing, or remade, like make)."""
    if not step.kind.runs_after_failed_needs and failed.intersection(step.needs):
        return BLOCKED
    if stages.is_done(step) and not rebuilt.intersection(step.needs):
        return REUSED
    return TO_RUN


def note_outcome(outcome: Outcome, failed: set[tuple], rebuilt: set[tuple]) -> None:
    """What ``decide`` needs to know of a finished step."""
    if outcome.status in (FAILED, BLOCKED):
        failed.add(outcome.step.key)
    elif outcome.status == RAN and outcome.step.kind.remakes_dependents:
        rebuilt.add(outcome.step.key)


def execute(plan: Plan, stages: Stages, invocation: Invocation, log=print) -> Report:
    report = Report()
    failed: set[tuple] = set()
    rebuilt: set[tuple] = set()  # steps that produced new output in this invocation
    journal = stages.ws.work_dir / "reproduce.jsonl"
    journal.parent.mkdir(parents=True, exist_ok=True)
    total = len(plan.steps)
    for index, step in enumerate(plan.steps, 1):
        prefix = f"[{index}/{total}] {step.label()}"
        decision = decide(step, failed, rebuilt, stages)
        if decision == BLOCKED:
            outcome = Outcome(step, BLOCKED, error=BLOCKED_BY_FAILURE)
        elif decision == REUSED:
            outcome = Outcome(step, REUSED)
        else:
            log(f"{prefix} ...")
            outcome = run_step_here(step, stages, invocation)
        log(outcome_line(prefix, outcome))
        note_outcome(outcome, failed, rebuilt)
        report.outcomes.append(outcome)
        append_journal(journal, outcome, invocation)
    return report


def outcome_line(prefix: str, outcome: Outcome) -> str:
    """What the log says of a step once it ends (run here or by a worker)."""
    if outcome.status == FAILED:
        return f"{prefix}: FAILED after {format_seconds(outcome.seconds)}: {outcome.error}"
    if outcome.status == REUSED:
        return f"{prefix}: done already, reused"
    if outcome.status == BLOCKED:
        return f"{prefix}: blocked ({outcome.error})"
    return f"{prefix}: done in {format_seconds(outcome.seconds)}"


def run_step_here(step: Step, stages: Stages, invocation: Invocation) -> Outcome:
    """Run ``step`` in this process (under ``accelerate launch`` where it spans several); its outcome."""
    from aspo_repro.orchestration.launch import run_under_accelerate, step_processes

    started = time.perf_counter()
    try:
        processes = step_processes(stages, step, visible_gpus(), seen_gpu_memory_gib())
        if processes.count > 1:
            run_under_accelerate(stages, step, invocation, processes, log=stages.log)
        else:
            stages.execute(step, invocation)
    except KeyboardInterrupt:
        raise
    except UserError as error:
        return Outcome(step, FAILED, time.perf_counter() - started, str(error))
    except Exception as error:  # one failed run must not lose the others
        log_path = _write_traceback(stages, step)
        return Outcome(step, FAILED, time.perf_counter() - started,
                       f"{type(error).__name__}: {error} (traceback in {log_path})")
    return Outcome(step, RAN, time.perf_counter() - started)


def _write_traceback(stages: Stages, step: Step) -> Path:
    path = stages.ws.work_dir / "failures" / ("-".join(str(part) for part in step.key) + ".log")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(traceback.format_exc())
    return path


def append_journal(path: Path, outcome: Outcome, invocation: Invocation) -> None:
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "invocation": invocation.started,
        "step": list(outcome.step.key),
        "status": outcome.status,
        "seconds": round(outcome.seconds, 2),
        "error": outcome.error,
        "git_revision": invocation.git_revision or git_revision(),
    }
    with path.open("a") as handle:  # an append-only log: a torn last line is harmless
        handle.write(json.dumps(entry) + "\n")
