"""``submissions``: the benchmarks a server scores (MMB-test): list what to submit, record the score."""

from __future__ import annotations

import argparse

NAME = "submissions"
HELP = "list answers awaiting a benchmark server's score (MMB-test); record the score it gave"
DESCRIPTION = """\
MMBench-EN test keeps its answers on the MMBench server: lmms-eval writes each run's answers to
an .xlsx file for submission and the run's eval.json lists MMB-test as missing until the score is
recorded. Submit each file listed, then record what the server says; tables show it like any
other score, with the scorer in the result's provenance.

  python -m aspo_repro submissions list --results runs/paper/results
  python -m aspo_repro submissions record runs/paper/results/paper/llava-1.5-7b/aspo/seed0/eval.json \\
      --benchmark mmbench_test --score 66.3 --scored-by "MMBench server, 2026-12-03\""""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="submissions_action", metavar="list|record", required=True)
    listing = actions.add_parser("list", help="every run with an unscored submission benchmark, and its file")
    listing.add_argument("--results", default="runs/paper/results", help="results root (default runs/paper/results)")
    record = actions.add_parser("record", help="record the server's score of one run's submission")
    record.add_argument("eval_json", help="the run's eval.json")
    record.add_argument("--benchmark", default="mmbench_test", help="the submission benchmark (default mmbench_test)")
    record.add_argument("--score", type=float, required=True, help="the server's score on the 0-100 scale")
    record.add_argument("--scored-by", required=True, help="who scored it and when (recorded in provenance)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aspo_repro.errors import UserError
    from aspo_repro.evaluation import submissions

    if args.submissions_action == "list":
        if not Path(args.results).is_dir():
            raise UserError(f"results root {args.results} does not exist")
        found = submissions.pending(Path(args.results))
        for item in found:
            state = "" if item.file.is_file() else "  (not written: run the evaluation again)"
            print(f"{item.benchmark.name}  {item.eval_path}\n    submit: {item.file}{state}")
        print(f"{len(found)} submission(s) await a score")
        return 0
    path = Path(args.eval_json)
    if not path.is_file():
        raise UserError(f"{path} is not a result file (eval.json)")
    result = submissions.record_server_score(path, args.benchmark, args.score, args.scored_by)
    print(f"{path}: {args.benchmark} = {result.scores[args.benchmark].value:g} (scored by {args.scored_by})")
    return 0
