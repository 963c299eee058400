"""``regress``: compare fresh results with committed reference results."""

from __future__ import annotations

import argparse

NAME = "regress"
HELP = "fail with a readable diff when scores move beyond their tolerance from a reference"
DESCRIPTION = """\
Compare every reference score with the candidate's (same profile, model, method, seed and
benchmark). Fails (exit 1) when a score moved by more than its tolerance (configs/regression.yaml)
or is missing. CI runs the mini-smoke reproduction and checks it against results/smoke:

  python -m aspo_repro reproduce --table 1 --profile mini-smoke --results /tmp/smoke --tables-dir /tmp/smoke-tables
  python -m aspo_repro regress --reference results/smoke --candidate /tmp/smoke"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True, help="results root holding the reference eval.json files")
    parser.add_argument("--candidate", required=True, help="results root of the fresh run")
    parser.add_argument("--profile", default="mini", help="results profile to compare (default mini)")
    parser.add_argument("--tolerances", help="a YAML file of tolerances (default configs/regression.yaml)")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.regression import compare, format_report, load_tolerances, machine_note

    comparisons = compare(args.reference, args.candidate, args.profile, load_tolerances(args.tolerances))
    print(format_report(comparisons))
    note = machine_note(args.reference, args.candidate, args.profile)
    if note:
        print(note)
    return 0 if all(c.ok for c in comparisons) else 1
