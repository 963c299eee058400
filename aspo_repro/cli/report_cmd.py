"""``report``: a static HTML report of a profile's results, preference data and training runs."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "write a self-contained HTML report (tables, figures, pairs, answers side by side, training)"
DESCRIPTION = """\
Write a static site (index.html with its assets; opens from disk, works offline) of everything a
profile has produced: every table with cells coloured by the sign and significance of their change
over base and over DPO (the same numbers as the Markdown tables), the figures as SVG, a browser of
each model's preference pairs with ASPO's sentence weights (S, P, S+P) and the mini world's verdicts,
base and trained models' answers to the same benchmark items, training curves with seeds overlaid,
and the run, commit and machine of every number. A rerun replaces the report atomically.

  python -m aspo_repro report                               # mini: runs/mini/report/index.html
  python -m aspo_repro report --results results             # the committed mini reference results
  python -m aspo_repro report --profile paper --pairs 2000  # the first 2000 pairs of each model
  python -m aspo_repro report --profile my.yaml --out /tmp/report

Reads: the profile's results root (eval.json and, where kept, lmms-eval's logged answers beside it),
its work directory (<model>/prefs, <model>/<method>/seed<k>/metrics.jsonl and run.json). The P and
S+P weights need the base model's log-probs: computed for mini-world data (--no-perplexity skips)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="mini", help="mini (default), mini-smoke, paper, paper-rehearsal, or a profile YAML")
    parser.add_argument("--out", help="the report's directory (default: <work dir>/report)")
    parser.add_argument("--results", help="results root (default: the profile's)")
    parser.add_argument("--work-dir", help="preference data and training runs (default: the profile's)")
    parser.add_argument("--pairs", type=int, help="show the first N pairs of each model's preference data (default: all)")
    parser.add_argument("--items", type=int, help="benchmark items per task side by side (default: 12)")
    parser.add_argument("--no-perplexity", action="store_true", help="skip the P and S+P weights (no model is loaded)")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.errors import UserError
    from aspo_repro.report import build_report

    for name in ("pairs", "items"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name} must be a positive integer; got {getattr(args, name)}")
    index = build_report(args.profile, args.out, results_root=args.results, work_dir=args.work_dir, pairs=args.pairs,
                         items_per_task=args.items, perplexity=not args.no_perplexity)
    size = sum(path.stat().st_size for path in index.parent.rglob("*") if path.is_file())
    print(f"wrote {index} ({size / 1e6:.1f} MB); open it in a browser: file://{index.resolve()}")
    return 0
