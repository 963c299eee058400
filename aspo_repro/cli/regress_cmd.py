"""``regress``: compare fresh results with the committed reference distributions."""

from __future__ import annotations

import argparse

NAME = "regress"
HELP = "fail with a readable diff when the primary checks leave what the reference's worlds and seeds allow"
DESCRIPTION = """\
Compare a candidate's results with a reference distribution, per model, method and benchmark: the
score, its change over the base model (the method's effect) and its difference to another method
on the same seed id and the same items. The primary checks of configs/regression.yaml (each ASPO
variant and the oracle against DPO, DPO against its base model, on the mini-SHR descriptions)
decide, at a family false-alarm rate; every other quantity is a secondary check, reported, never
failing. The reference is a directory of world replicates (world1/, world2/ ...: the mini world with
its initial weights perturbed as another CPU's float kernels perturb them), each with several
training seeds; the candidate's mean over its seeds must lie within the band a new world's mean
keeps (docs/regression.md). Exit 1 when a primary check leaves its band or a result is missing.

CI's candidate is world replicate 0, held out of the reference:

  python -m aspo_repro reproduce --table 5 --profile mini-smoke --models mini-llava-s \\
      --results /tmp/smoke --tables-dir /tmp/smoke-tables --work-dir /tmp/smoke-work
  python -m aspo_repro regress --reference results/smoke --candidate /tmp/smoke

A reference of your own: .ci/make_smoke_references.sh OUT (one results root per world replicate)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True,
                        help="reference results: a directory of world*/ results roots, or one results root")
    parser.add_argument("--candidate", required=True, help="results root of the fresh run")
    parser.add_argument("--profile", default="mini", help="results profile to compare (default mini)")
    parser.add_argument("--settings", help="a regression YAML file (default configs/regression.yaml)")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.regression import compare, format_report, load_settings, machine_note

    comparison = compare(args.reference, args.candidate, args.profile, load_settings(args.settings))
    print(format_report(comparison))
    note = machine_note(args.reference, args.candidate, args.profile)
    if note:
        print(note)
    return 0 if comparison.passed else 1
