"""The checkable rehearsal's checks and its command line (the runs themselves: .ci/check_paper_answers.py)."""

from __future__ import annotations

import pytest

from aspo_repro.rehearsal import checkable


def _row(benchmark: str, same_response: float | None, same: float | None, unexplained: int,
         difference: float | None) -> dict:
    return {"benchmark": benchmark, "items": 4, "same_response_pct": same_response, "same_parsed_pct": same,
            "unexplained": unexplained, "difference": difference}


def test_responses_must_agree_where_the_paper_path_asks_as_the_mini_path_does():
    asked_alike = {**_row("pope", 50.0, 50.0, 0, -20.0), "asked_alike": True}
    assert "identical responses to the same prompt" in checkable.failures(asked_alike)[0]
    assert checkable.failures({**asked_alike, "asked_alike": False}) == []  # another prompt: not comparable
    assert checkable.failures({**_row("mmbench_dev", 50.0, 50.0, 0, -20.0), "asked_alike": True}) == []


def test_a_check_fails_on_an_unexplained_reading_and_when_identical_answers_score_differently():
    assert checkable.failures(_row("pope", 100.0, 75.0, 0, 3.0)) == []
    assert "no known rule difference" in checkable.failures(_row("pope", 100.0, 75.0, 1, 3.0))[0]
    assert "scores differ" in checkable.failures(_row("gqa", 100.0, 100.0, 0, 2.5))[0]
    assert checkable.failures(_row("seed_image", 0.0, 0.0, 0, -40.0)) == []  # different responses: not a reading
    assert checkable.failures({**_row("shr", None, None, 0, None), "items": 0}) == ["no question answered by both paths"]


@pytest.mark.parametrize("argv, message", [
    (["--models", "llava-1.5-7b"], "evaluates mini models"),
    (["--questions", "0"], "positive number"),
    (["--protocol", "vicuna"], "vicuna"),
])
def test_bad_settings_are_one_line_and_exit_2_before_any_work(tmp_path, capsys, argv, message):
    assert checkable.main([str(tmp_path / "out"), *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()
