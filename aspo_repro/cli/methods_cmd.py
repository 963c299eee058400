"""``methods``: list the method registry, or show one method with options overridden."""

from __future__ import annotations

import argparse
import json

from aspo_repro.errors import UserError
from aspo_repro.methods import NORMS, PPL_SOURCES, all_methods, get_method

NAME = "methods"
HELP = "list the registered preference-optimisation methods"
DESCRIPTION = """\
List the method registry: each method's loss, unit granularity, alpha (the balance of the
CLIP-similarity and perplexity weights, Eq. 10), the normaliser c of Eq. 12, what scores the
similarity weight (CLIP, or the mini world's exact judge for aspo-oracle) and a description.

  python -m aspo_repro methods
  python -m aspo_repro methods aspo --alpha 0.25      # one method, as a variant would run
  python -m aspo_repro methods --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show only this method (with any overrides below)")
    parser.add_argument("--alpha", type=float, help="override alpha (ASPO methods; must lie in [0, 1])")
    parser.add_argument("--norm", choices=NORMS, help="override the normaliser c")
    parser.add_argument("--ppl-source", choices=PPL_SOURCES, help="override whose log-probs give perplexity")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    overrides = {"alpha": args.alpha, "norm": args.norm, "ppl_source": args.ppl_source}
    if args.name:
        methods = [get_method(args.name, **overrides)]
    elif any(value is not None for value in overrides.values()):
        raise UserError("option overrides apply to one method: name it, e.g. `methods aspo --alpha 0.25`")
    else:
        methods = all_methods()
    if args.json:
        print(json.dumps([m.as_dict() for m in methods], indent=2))
        return 0
    print(format_table(methods))
    return 0


def format_table(methods) -> str:
    header = ("name", "loss", "granularity", "alpha", "norm", "ppl", "scorer", "description")
    rows = [
        (
            m.name,
            m.loss,
            m.granularity,
            "-" if m.alpha is None else f"{m.alpha:g}",
            m.norm if m.takes("norm") else "-",
            "-" if not m.uses_perplexity else m.ppl_source,
            m.scorer if m.uses_similarity else "-",
            m.description,
        )
        for m in methods
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths)]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)
