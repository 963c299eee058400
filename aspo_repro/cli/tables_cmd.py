"""``tables``: render the paper's tables from your results, diffed against the published numbers."""

from __future__ import annotations

import argparse

NAME = "tables"
HELP = "render the paper's tables and figures from results/, or audit the published numbers"
DESCRIPTION = """\
Render a table of the paper from the run results under results/<profile>/ as Markdown and
LaTeX (booktabs), each cell beside the published number; Figure 3 as PNG, PDF and Markdown.
Runs without results show as missing. --audit lists where the paper disagrees with itself
(an Avg that is not the mean of its row, a number that differs between tables).

  python -m aspo_repro tables --table 1                  # mini profile, into tables/mini/
  python -m aspo_repro tables --table 5 --profile paper  # into tables/paper/
  python -m aspo_repro tables --table figure3 --seeds 3
  python -m aspo_repro tables --table all
  python -m aspo_repro tables --audit"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aspo_repro.tables import choices_help

    parser.add_argument("--table", action="append", help=f"{choices_help()} (repeatable)")
    parser.add_argument("--profile", default="mini", help="mini (default) or paper")
    parser.add_argument("--results", default="results", help="results root (default: results)")
    parser.add_argument("--out", help="output directory (default: tables/<profile>)")
    parser.add_argument("--seeds", type=int, help="use seeds 0..K-1 only (default: every seed found)")
    parser.add_argument("--published", help="published numbers CSV (default: baselines/published.csv)")
    parser.add_argument("--audit", action="store_true", help="list where the published numbers disagree with themselves")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aspo_repro.errors import UserError
    from aspo_repro.results import check_profile
    from aspo_repro.tables import (
        audit,
        canonical_table,
        choices_help,
        format_audit,
        load_published,
        render_table,
        requested_names,
    )

    if args.audit:
        print(format_audit(audit(load_published(args.published))))
        if not args.table:
            return 0
    if not args.table:
        raise UserError(f"name a table with --table ({choices_help()}) or ask for --audit")
    check_profile(args.profile)
    tables = [canonical_table(name) for name in requested_names(args.table)]
    out_dir = Path(args.out) if args.out else Path("tables") / args.profile
    for table in tables:
        command = f"python -m aspo_repro tables --table {table} --profile {args.profile}"
        paths = render_table(
            table, args.profile, args.results, out_dir, args.seeds,
            published_path=args.published, command=command,
        )
        print("\n".join(f"wrote {path}" for path in paths))
    return 0
