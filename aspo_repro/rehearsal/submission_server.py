"""A stand-in of the MMBench evaluation server for the rehearsal: it scores the MMBench-EN test
file that lmms-eval writes for submission against the answer key the stand-in datasets keep
(``answer_keys/`` beside them, read by nothing else), by MMBench's circular rule (a question
counts only if every rotation of its options is answered right) through lmms-eval's own
``MMBench_Evaluator`` with its static answer extraction. The score is recorded through
``evaluation.submissions``, as a user records the real server's."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import Benchmark
from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal.answer_keys import answer_key_path


class SubmissionServerStandin:
    """Scores submissions of the benchmarks whose answer keys lie under ``dataset_dir``."""

    def __init__(self, dataset_dir: Path):
        self.dataset_dir = Path(dataset_dir)

    def name(self, benchmark: Benchmark) -> str:
        task, = benchmark.tasks
        return (f"rehearsal stand-in of the {benchmark.label} server (circular accuracy against "
                f"{answer_key_path(self.dataset_dir, task)})")

    def score(self, benchmark: Benchmark, submission: Path) -> tuple[float, int]:
        """(accuracy on the 0-100 scale, questions scored) of the submitted file."""
        import pandas as pd
        from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

        task, = benchmark.tasks
        key_path = answer_key_path(self.dataset_dir, task)
        if not key_path.is_file():
            raise UserError(f"no answer key {key_path} for the stand-in {benchmark.label} server")
        if not submission.is_file():
            raise UserError(f"{benchmark.label}: lmms-eval wrote no submission file {submission}")
        key = json.loads(key_path.read_text(encoding="utf-8"))
        rows = pd.read_excel(submission).to_dict("records")
        unknown = [row["index"] for row in rows if str(row["index"]) not in key]
        if unknown:
            raise UserError(f"{submission}: {len(unknown)} answers to questions the answer key lacks")
        for row in rows:
            row["answer"] = key[str(row["index"])]
        with contextlib.redirect_stdout(io.StringIO()):  # its per-category table
            accuracy, _, _ = MMBench_Evaluator().eval_result(rows, eval_method="static")
        return 100.0 * float(accuracy), sum(int(row["index"]) < ROTATION_OFFSET for row in rows)
