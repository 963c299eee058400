"""A server-scored benchmark (MMB-test): the run lists it as pending; the server's score is recorded."""

from __future__ import annotations

import pytest

from aspo_repro.cli import main
from aspo_repro.errors import UserError
from aspo_repro.evaluation import submissions
from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey


@pytest.fixture
def evaluated(tmp_path):
    """A paper run whose evaluation wrote MMB-test's submission file and scored POPE."""
    run = RunKey("paper", "llava-1.5-7b", "aspo")
    path = run.eval_path(tmp_path)
    file = submissions.submission_path(path, REGISTRY["mmbench_test"])
    file.parent.mkdir(parents=True)
    file.write_bytes(b"answers")
    EvalResult(run, {"pope": BenchmarkScore(85.0)}, {"adapter": "llava_hf"},
               {"missing": {"mmbench_test": "scored by the benchmark's evaluation server"}}).save(path)
    return path, file


def test_a_submission_waits_for_its_score_then_counts(evaluated, tmp_path):
    path, file = evaluated
    pending, = submissions.pending(tmp_path)
    assert (pending.eval_path, pending.benchmark.name, pending.file) == (path, "mmbench_test", file)

    submissions.record_server_score(path, "mmbench_test", 66.3, "MMBench server, 2026-12-03")

    result = EvalResult.load(path)
    assert result.scores["mmbench_test"].value == 66.3 and result.scores["pope"].value == 85.0
    assert result.scores["mmbench_test"].judge == "MMBench server, 2026-12-03"
    assert "mmbench_test" not in result.extra["missing"]
    record = result.provenance["server_scores"]["mmbench_test"]
    assert record["file"] == str(file) and len(record["file_sha256"]) == 64
    assert result.provenance["adapter"] == "llava_hf"
    assert submissions.pending(tmp_path) == []


@pytest.mark.parametrize("name, score, scored_by, message", [
    ("pope", 80.0, "me", "unknown submission benchmark 'pope'; known: mmbench_test"),
    ("mmbench_test", 101.0, "MMBench server", "0-100 scale"),
    ("mmbench_test", 60.0, " ", "--scored-by must say who scored"),
])
def test_a_bad_record_is_refused_and_the_file_kept(evaluated, name, score, scored_by, message):
    path, _ = evaluated
    before = path.read_bytes()
    with pytest.raises(UserError, match=message):
        submissions.record_server_score(path, name, score, scored_by)
    assert path.read_bytes() == before


def test_the_command_lists_and_records(evaluated, tmp_path, capsys):
    path, file = evaluated
    assert main(["submissions", "list", "--results", str(tmp_path)]) == 0
    assert str(file) in capsys.readouterr().out
    assert main(["submissions", "record", str(path), "--score", "70", "--scored-by", "MMBench server"]) == 0
    assert "mmbench_test = 70" in capsys.readouterr().out
    assert main(["submissions", "record", str(tmp_path / "nope.json"), "--score", "70", "--scored-by", "x"]) == 2
