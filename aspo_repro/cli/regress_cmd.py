"""``regress``: compare fresh results with the committed reference distributions."""

from __future__ import annotations

import argparse

NAME = "regress"
HELP = "fail with a readable diff when the primary checks leave what the reference's worlds and seeds allow"
DESCRIPTION = """\
Compare a candidate's results with a reference distribution, per model, method and benchmark: the
score, its change over the base model (the method's effect) and its difference to another method
on the same seed id and the same items. The primary checks of configs/regression.yaml (each ASPO
variant and the oracle against DPO, and DPO's own level, in correct sentences per mini-SHR
description) decide, at a family false-alarm rate; every other quantity is a secondary check,
reported, never failing. The reference is a directory of world replicates (world0/, world1/ ...: the
mini world with its initial weights perturbed as another CPU's float kernels perturb them), each with
several training seeds. One of them must be the candidate's own world (its base models answer every
item alike: the same world on the same machine kind); each check is then made within it, against
its other seeds. The check keeps its false-alarm rate there only (docs/regression.md), so a
candidate of no reference world fails, naming the command that makes this machine kind's reference;
--across-worlds compares it across worlds instead, with bands wide enough to cover a new world and a
false-alarm rate above the declared one (indicative, never CI's). Exit 1 when the candidate's world
is not in the reference, a primary check leaves its band or a result is missing.

CI's candidate is world replicate 0, seeds 0-2, against the reference's world0 (seeds 3-8):

  python -m aspo_repro reproduce --table 5 --profile mini-smoke --models mini-llava-s \\
      --results /tmp/smoke --tables-dir /tmp/smoke-tables --work-dir /tmp/smoke-work
  python -m aspo_repro regress --reference results/smoke --candidate /tmp/smoke

On another kind of machine, first make its own world 0 beside the others (about 35 minutes on 2
cores), then compare as above:

  bash .ci/make_smoke_references.sh results/smoke 0 9 KIND    # writes results/smoke/world0-KIND"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True,
                        help="reference results: a directory of world*/ results roots, or one results root")
    parser.add_argument("--candidate", required=True, help="results root of the fresh run")
    parser.add_argument("--profile", default="mini", help="results profile to compare (default mini)")
    parser.add_argument("--settings", help="a regression YAML file (default configs/regression.yaml)")
    parser.add_argument("--across-worlds", action="store_true",
                        help="when no reference world is the candidate's, compare across worlds (wide bands, a "
                             "false-alarm rate above the declared one: a look, not a decision) instead of failing")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.regression import (
        OTHER_WORLD,
        compare,
        format_report,
        load_settings,
        machine_note,
    )

    comparison = compare(args.reference, args.candidate, args.profile, load_settings(args.settings))
    print(format_report(comparison))
    note = machine_note(args.reference, args.candidate, args.profile)
    if note:
        print(note)
    if comparison.same_world is None and not args.across_worlds:
        print(OTHER_WORLD)
        return 1
    return 0 if comparison.passed else 1
