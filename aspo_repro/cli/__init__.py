"""``python -m aspo_repro``: the command line.

Each subcommand is one module of this package exposing ``NAME``, ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args) -> int``. Modules import heavy libraries (torch,
transformers) inside ``run`` only, so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aspo_repro import __version__
from aspo_repro.errors import UserError

COMMAND_MODULES = (
    "aspo_repro.cli.methods_cmd",
    "aspo_repro.cli.models_cmd",
    "aspo_repro.cli.world_cmd",
    "aspo_repro.cli.tables_cmd",
    "aspo_repro.cli.train_cmd",
    "aspo_repro.cli.evaluate_cmd",
    "aspo_repro.cli.prefs_cmd",
    "aspo_repro.cli.reproduce_cmd",
    "aspo_repro.cli.submissions_cmd",
    "aspo_repro.cli.regress_cmd",
    "aspo_repro.cli.report_cmd",
)

EPILOG = """\
Start with:  python -m aspo_repro methods        (what can be trained)
Every subcommand has its own --help."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aspo_repro",
        description="Reproduce the ASPO paper's tables from your own runs, diffed against the published numbers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aspo-repro {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
