"""``reproduce``: regenerate a table of the paper from your own runs."""

from __future__ import annotations

import argparse
import shlex
import sys

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
  python -m aspo_repro reproduce --table all --seeds 3       # every table, mean over 3 seeds
  python -m aspo_repro reproduce --table 1 --profile paper --models llava-1.5-7b

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
    parser.add_argument("--seeds", type=int, default=1, help="replicates per run; cells show mean and spread (default 1)")
    parser.add_argument("--results", help="results root (default: the profile's)")
    parser.add_argument("--tables-dir", help="where tables are written (default: the profile's)")
    parser.add_argument("--work-dir", help="preference data and training runs (default: the profile's)")
    parser.add_argument("--cache-dir", help="the mini world's cache (default: $ASPO_CACHE_DIR or .cache/aspo)")


def expand_tables(requested: list[str]) -> list[str]:
    from aspo_repro.tables import known_names

    tables: list[str] = []
    for item in requested:
        for name in item.split(","):
            tables.extend(known_names() if name.strip().lower() == "all" else [name.strip()])
    return list(dict.fromkeys(tables))


def run(args: argparse.Namespace) -> int:
    from aspo_repro.errors import UserError
    from aspo_repro.orchestration import describe_plan, format_seconds, prepare
    from aspo_repro.orchestration import run as run_plan

    if args.seeds < 1:
        raise UserError(f"--seeds must be a positive integer; got {args.seeds}")
    reproduction = prepare(
        expand_tables(args.table), args.profile, models=args.models, seeds=args.seeds,
        results_root=args.results, tables_dir=args.tables_dir, work_dir=args.work_dir, cache_dir=args.cache_dir,
    )
    print(describe_plan(reproduction.plan, reproduction.stages), flush=True)
    if args.dry_run:
        return 0
    command = "python -m aspo_repro " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    reproduction = run_plan(reproduction, seeds=args.seeds if args.seeds > 1 else None, command=command)
    report = reproduction.report
    ws = reproduction.stages.ws
    print(f"\nfinished in {format_seconds(reproduction.seconds)}: "
          f"{len(report.by_status('ran'))} steps ran, {len(report.by_status('reused'))} reused, "
          f"{len(report.by_status('failed'))} failed, {len(report.by_status('blocked'))} blocked")
    print(f"tables in {ws.tables_dir}, results in {ws.results_root}, step log in {ws.work_dir / 'reproduce.jsonl'}")
    for outcome in report.by_status("failed"):
        print(f"FAILED: {outcome.step.label()}: {outcome.error}", file=sys.stderr)
    return 0 if report.ok else 1
