"""``models``: list the model registry (paper models and their mini-world analogues)."""

from __future__ import annotations

import argparse
import dataclasses
import json

NAME = "models"
HELP = "list the base models (paper and mini profile) with their LoRA recipes"
DESCRIPTION = """\
List the model registry: each base model's profile, family, where it comes from (a hub id, or
the mini world's build), its LoRA recipe (rank, alpha, target modules) and training defaults
(learning rate, batch size), from the paper's section 4.1 or scaled for the mini world.

  python -m aspo_repro models
  python -m aspo_repro models --profile mini
  python -m aspo_repro models --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="only this profile (paper or mini)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.models.registry import all_models
    from aspo_repro.profile_kinds import get_profile_kind

    if args.profile is not None:
        get_profile_kind(args.profile)  # an unknown profile is refused, listing the known ones
    specs = all_models(args.profile)
    if args.json:
        print(json.dumps([dataclasses.asdict(spec) for spec in specs], indent=2))
        return 0
    print(format_table(specs))
    return 0


def format_table(specs) -> str:
    header = ("name", "profile", "family", "source", "lora r/alpha", "lora targets", "lr", "batch")
    rows = [
        (s.name, s.profile, s.family, s.source, f"{s.lora.r}/{s.lora.alpha}", ",".join(s.lora.target_modules),
         f"{s.training.learning_rate:g}", str(s.training.batch_size))
        for s in specs
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in [header, *rows])
