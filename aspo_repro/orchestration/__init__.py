"""``reproduce``: plan the runs a table needs, run what is missing, render the table.

    plan = plan_tables(["1"], profile, models=None, seeds=1)   # what is needed
    report = reproduce(["1"], "mini")                           # do it (resumable)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.orchestration.plan import Plan, build_plan
from aspo_repro.orchestration.profiles import Profile, load_profile, profile_names
from aspo_repro.orchestration.runner import Report, describe_plan, execute, format_seconds
from aspo_repro.orchestration.stages import Invocation, Stages, Workspace
from aspo_repro.provenance import git_revision


def plan_tables(tables: list[str], profile: Profile, models: list[str] | None = None, seeds: int = 1) -> Plan:
    from aspo_repro.tables import canonical_table, runs_needed

    names = [canonical_table(table) for table in tables]
    needed = {name: [run for run in runs_needed(name, profile.results_profile, models=models, seeds=seeds)
                     if profile.runs(run)] for name in names}
    return build_plan(profile.name, needed, has_world_step=profile.has_world_step, data_scorer=profile.world_data_scorer,
                      diagnoses=profile.builds_mini_world)


@dataclass
class Reproduction:
    plan: Plan
    stages: Stages
    report: Report | None = None
    seconds: float = 0.0
    seeds: int = 1  # training seeds per run: the asked number, else the profile's


def prepare(
    tables: list[str],
    profile: str,
    *,
    models: list[str] | None = None,
    seeds: int | None = None,
    results_root: str | Path | None = None,
    tables_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    log=print,
) -> Reproduction:
    chosen = load_profile(profile)
    workspace = Workspace(
        profile=chosen,
        results_root=Path(results_root) if results_root else chosen.results_root,
        tables_dir=Path(tables_dir) if tables_dir else chosen.tables_dir,
        work_dir=Path(work_dir) if work_dir else chosen.work_dir,
        cache_dir=Path(cache_dir) if cache_dir else None,
    )
    seeds = seeds or chosen.seeds
    return Reproduction(plan_tables(tables, chosen, models, seeds), Stages(workspace, log=log), seeds=seeds)


def invocation_of(seeds: int | None, command: str) -> Invocation:
    return Invocation(seeds=seeds, command=command, started=time.strftime("%Y%m%dT%H%M%S"),
                      git_revision=git_revision())


def run(reproduction: Reproduction, *, seeds: int | None, command: str, jobs: int = 1, wait: bool = False,
        log=print) -> Reproduction:
    """Run what the plan misses on this machine: in turn, or ``jobs`` independent steps at once."""
    from aspo_repro.orchestration.guard import exclusive_work_dir
    from aspo_repro.orchestration.parallel import run_parallel

    started = time.perf_counter()
    invocation = invocation_of(seeds, command)
    with exclusive_work_dir(reproduction.stages.ws.work_dir, command, wait, log):
        if jobs > 1:
            reproduction.report = run_parallel(reproduction.plan, reproduction.stages, invocation, jobs, log=log)
        else:
            reproduction.report = execute(reproduction.plan, reproduction.stages, invocation, log=log)
    reproduction.seconds = time.perf_counter() - started
    return reproduction


def submit(reproduction: Reproduction, *, seeds: int | None, command: str, cluster: str = "slurm",
           dry_run: bool = False, cancel: bool = False, wait: bool = False, log=print):
    """Submit the plan's missing steps as cluster jobs (or cancel them); returns at once."""
    from aspo_repro.orchestration.guard import exclusive_work_dir
    from aspo_repro.orchestration.slurm import Launcher

    launcher = Launcher(reproduction.plan, reproduction.stages, cluster, log=log)
    with exclusive_work_dir(reproduction.stages.ws.work_dir, command, wait, log):
        if cancel:
            return launcher.cancel()
        return launcher.submit(invocation_of(seeds, command), dry_run=dry_run)


__all__ = [
    "Invocation", "Plan", "Reproduction", "Stages", "Workspace", "describe_plan", "format_seconds", "load_profile",
    "plan_tables", "prepare", "profile_names", "run", "submit",
]
