"""``reproduce``: regenerate a table of the paper from your own runs."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass

NAME = "reproduce"
HELP = "plan, run (resumably) and render the runs a table of the paper needs"
DESCRIPTION = """\
Regenerate a table or figure of the paper (the specs in configs/tables/; see --table) from your
own runs, every cell diffed against the published number. The plan is: build the mini world (mini profiles), generate each
base model's preference data (SeVa), train each method, evaluate every model, render the table.
Finished work is reused and interrupted work resumed: run the same command again after a crash.
One failed run does not stop the others; the table shows what exists.

  python -m aspo_repro reproduce --table 1                   # mini profile, the default
  python -m aspo_repro reproduce --table 5 --dry-run         # show the plan and its cost
  python -m aspo_repro reproduce --table all --seeds 5       # every table, mean over 5 seeds (mini: 3 by default)
  python -m aspo_repro reproduce --table 1 --profile paper --models llava-1.5-7b
  python -m aspo_repro reproduce --table 1 --jobs 1                # in turn, in this process
  python -m aspo_repro reproduce --table 1 --profile paper --launcher slurm   # one Slurm job per step

Launchers: local (default) runs the steps on this machine, in turn or --jobs N at once (the profile's
`jobs`, the mini profile's 2: one step per GPU; on a CPU in N processes started once, each at the torch
threads of a step run in turn, so the results are the same). slurm submits each step as a job (submitit) that
waits for the jobs it is made from, with the resources of the profile's launch.slurm section, and
returns; the same command again shows each step's state and submits only what is missing or
failed; --cancel cancels the plan's jobs. One reproduce at a time per work directory: a second
says which one runs, or with --wait waits for it.

Profiles: mini (default, CPU, minutes), mini-smoke (a tiny world, for tests and CI), paper (GPUs).
Outputs: runs/<profile>/results/... (one eval.json per run), tables/table<N>.md/.tex (figure3.png/.pdf),
and the work in runs/<profile>/ (preference data, training runs, reproduce.jsonl: every step's time).
The reference results committed in results/ are not reused: a reproduction is made of your own runs."""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aspo_repro.tables import choices_help

    parser.add_argument("--table", action="append", required=True, help=f"{choices_help()} (repeatable)")
    parser.add_argument("--profile", default="mini", help="mini (default), mini-smoke, paper, or a profile YAML file")
    parser.add_argument("--dry-run", action="store_true", help="show the plan and its estimated cost, run nothing")
    parser.add_argument("--models", nargs="+", help="restrict to these models of the table")
    parser.add_argument("--seeds", type=int, help="training seeds per run; cells show the mean and its 95%% interval "
                        "(default: the profile's: 3 on mini, 1 on paper)")
    parser.add_argument("--results", help="results root (default: the profile's)")
    parser.add_argument("--tables-dir", help="where tables are written (default: the profile's)")
    parser.add_argument("--work-dir", help="preference data and training runs (default: the profile's)")
    parser.add_argument("--cache-dir", help="the mini world's cache (default: $ASPO_CACHE_DIR or .cache/aspo)")
    parser.add_argument("--launcher", choices=tuple(LAUNCHERS), default="local",
                        help="local: run here (default); slurm: submit one job per step and return")
    parser.add_argument("--jobs", type=int, default=None,
                        help="local launcher: steps run at once (default: the profile's `jobs`, 1 unless it says "
                             "otherwise; the mini profile's 2). With GPUs each in a process of its own, one GPU each; "
                             "on a CPU in N processes started once, each at the torch threads a step run in turn has "
                             "(the same weights); 1: in turn, in this process")
    parser.add_argument("--cancel", action="store_true", help="slurm launcher: cancel this plan's queued and running jobs")
    parser.add_argument("--wait", action="store_true",
                        help="if another reproduce runs on the work directory, wait for it instead of exiting")
    parser.add_argument("--gpus", type=int, help="GPUs to plan memory for (default: the GPUs torch sees); "
                        "with --gpu-memory-gb, plan for a machine other than this one")
    parser.add_argument("--gpu-memory-gb", type=float, help="memory of each GPU in GiB (default: what torch reports)")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.errors import UserError
    from aspo_repro.orchestration import prepare
    from aspo_repro.tables import requested_names

    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be a positive integer; got {args.seeds}")
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer; got {args.jobs}")
    launcher = LAUNCHERS[args.launcher]
    launcher.check(args)
    reproduction = prepare(
        requested_names(args.table), args.profile, models=args.models, seeds=args.seeds,
        results_root=args.results, tables_dir=args.tables_dir, work_dir=args.work_dir, cache_dir=args.cache_dir,
    )
    command = "python -m aspo_repro " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    seeds = reproduction.seeds if reproduction.seeds > 1 else None
    return launcher.launch(reproduction, args, seeds, command)


def _run_here(reproduction, args: argparse.Namespace, seeds: int | None, command: str) -> int:
    from aspo_repro.orchestration import describe_plan, format_seconds
    from aspo_repro.orchestration import run as run_plan
    from aspo_repro.references import check_reference_write

    jobs = args.jobs or reproduction.stages.ws.profile.jobs
    print(describe_plan(reproduction.plan, reproduction.stages, jobs), flush=True)
    check_memory_plan(reproduction, args.gpus, args.gpu_memory_gb)
    if args.dry_run:
        return 0
    check_reference_write(reproduction.stages.ws.results_root)  # before hours of work, not after
    check_reference_write(reproduction.stages.ws.tables_dir)
    reproduction = run_plan(reproduction, seeds=seeds, command=command, jobs=jobs, wait=args.wait)
    report = reproduction.report
    ws = reproduction.stages.ws
    print(f"\nfinished in {format_seconds(reproduction.seconds)}: {report.summary()}")
    print(f"tables in {ws.tables_dir}, results in {ws.results_root}, step log in {ws.work_dir / 'reproduce.jsonl'}")
    for outcome in report.failures:
        print(f"FAILED: {outcome.step.label()}: {outcome.error}", file=sys.stderr)
    return 0 if report.ok else 1


def check_memory_plan(reproduction, gpus: int | None, gpu_memory_gb: float | None) -> None:
    """Print each GPU step's processes, batch, sharding and estimated peak memory for the hardware
    given (or seen); refuse (exit 2, one line) a plan a step of which cannot fit."""
    from aspo_repro.orchestration.memory import (
        check_memory,
        describe_memory,
        detect_hardware,
        plan_memory,
        profile_is_planned,
    )

    profile = reproduction.stages.ws.profile
    if not profile_is_planned(profile):
        return
    hardware = detect_hardware(gpus, gpu_memory_gb)
    if hardware is None:
        print("memory plan: no GPU seen (give --gpus N --gpu-memory-gb M to plan for a GPU machine)")
        return
    plans = plan_memory(reproduction.plan, profile, hardware)
    print(describe_memory(plans, hardware), flush=True)
    check_memory(plans)


def _submit(reproduction, args: argparse.Namespace, seeds: int | None, command: str) -> int:
    from aspo_repro.orchestration import submit

    ws = reproduction.stages.ws
    slurm = ws.profile.launch.slurm
    if args.gpus is None and args.gpu_memory_gb is None and slurm.gpu_memory_gb:
        check_memory_plan(reproduction, slurm.steps["train"].gpus, slurm.gpu_memory_gb)  # a training job's GPUs
    else:
        check_memory_plan(reproduction, args.gpus, args.gpu_memory_gb)
    outcome = submit(reproduction, seeds=seeds, command=command, dry_run=args.dry_run, cancel=args.cancel,
                     wait=args.wait)
    if args.cancel or args.dry_run:
        return 0
    if outcome:
        print(f"\nsubmitted {len(outcome)} job(s): {', '.join(outcome.values())}; logs in {ws.work_dir / 'launch' / 'jobs'}")
        print("run the same command again to see each step's state (and resubmit what failed); add --cancel to cancel")
    return 0


@dataclass(frozen=True)
class Launch:
    """A ``--launcher`` choice: what it does with a reproduction, and the options that apply to it."""

    name: str
    launch: Callable[..., int]
    takes_jobs: bool  # --jobs N: steps at once on this machine
    cancels: bool  # --cancel: cancel the plan's jobs

    def check(self, args: argparse.Namespace) -> None:
        from aspo_repro.errors import UserError

        if args.jobs is not None and not self.takes_jobs:
            raise UserError(f"--jobs applies to the local launcher; under {self.name} the scheduler runs the jobs")
        if args.cancel and not self.cancels:
            raise UserError(f"--cancel applies to --launcher slurm (a {self.name} run stops with Ctrl-C)")


LAUNCHERS = {launch.name: launch for launch in (Launch("local", _run_here, takes_jobs=True, cancels=False),
                                                Launch("slurm", _submit, takes_jobs=False, cancels=True))}
