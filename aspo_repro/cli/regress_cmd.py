"""``regress``: compare fresh results with the committed reference distributions."""

from __future__ import annotations

import argparse

NAME = "regress"
HELP = "fail with a readable diff when scores leave what the reference's worlds and seeds allow"
DESCRIPTION = """\
Compare a candidate's results with a reference: per model, method and benchmark, the score, its
change over the base model (the method's effect) and its difference to another method on the same
seed (configs/regression.yaml's versus:, ASPO against DPO). The reference is a distribution: a
directory of world replicates (world0/, world1/ ...: the mini world with its initial weights
perturbed as another CPU's float kernels perturb them), each with several training seeds; the
candidate's mean over its seeds must lie within the band a new draw from that distribution keeps
(family-wise confidence and floors in configs/regression.yaml). Fails (exit 1) when a check leaves
its band or a result is missing. CI runs the mini-smoke reproduction and checks it against results/smoke:

  python -m aspo_repro reproduce --table 1 --profile mini-smoke --results /tmp/smoke --tables-dir /tmp/smoke-tables
  python -m aspo_repro regress --reference results/smoke --candidate /tmp/smoke

A reference of your own: reproduce the mini-smoke profile once per world replicate into
REF/world<k> (profile key world.replicate, e.g. a copy of configs/profiles/mini-smoke.yaml)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True,
                        help="reference results: a directory of world*/ results roots, or one results root")
    parser.add_argument("--candidate", required=True, help="results root of the fresh run")
    parser.add_argument("--profile", default="mini", help="results profile to compare (default mini)")
    parser.add_argument("--settings", help="a regression YAML file (default configs/regression.yaml)")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.regression import compare, format_report, load_settings, machine_note

    checks = compare(args.reference, args.candidate, args.profile, load_settings(args.settings))
    print(format_report(checks))
    note = machine_note(args.reference, args.candidate, args.profile)
    if note:
        print(note)
    return 0 if all(c.ok for c in checks) else 1
