"""Fixtures for the table tests: fake eval.json files with hand-written numbers."""

from __future__ import annotations

import pytest

from aspo_repro.results import BenchmarkScore, EvalResult, RunKey


@pytest.fixture
def results_root(tmp_path):
    return tmp_path / "results"


@pytest.fixture
def write_result(results_root):
    """write_result(profile, model, method, seed, {benchmark: value}) -> path of the eval.json."""

    def write(profile: str, model: str, method: str, seed: int, scores: dict[str, float]):
        run = RunKey(profile, model, method, seed)
        result = EvalResult(run, {b: BenchmarkScore(v) for b, v in scores.items()}, {"test": True})
        return result.save_to(results_root)

    return write
