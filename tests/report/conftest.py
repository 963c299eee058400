"""Fixtures of the report's tests: mini results with hand-made numbers (base, 3 seeds of DPO and ASPO)."""

from __future__ import annotations

import pytest

from aspo_repro.results import BenchmarkScore, EvalResult, RunKey

BENCHMARKS = ("mini_pope", "mini_shr", "mini_shr_correct", "mini_shr_hallucinated", "mini_gqa", "mini_mmb")


def write(root, method: str, seed: int, share: float, items: int = 40) -> None:
    """A result whose mini-GQA items are right for about ``share`` of them (kept per item, for intervals)."""
    scores = {}
    for benchmark in BENCHMARKS:
        outcomes = [[1.0 if (k * 7 + seed) % items < items * share else 0.0, 1.0] for k in range(items)]
        value = 100 * sum(o for o, _ in outcomes) / items if benchmark == "mini_gqa" else 50.0 + share
        scores[benchmark] = BenchmarkScore(value, items={"mini_gqa": outcomes} if benchmark == "mini_gqa" else None)
    EvalResult(RunKey("mini", "mini-llava-s", method, seed), scores, {"test": True}).save_to(root)


@pytest.fixture(scope="module")
def fake_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-results") / "results"
    write(root, "base", 0, 0.3)
    for seed in range(3):
        write(root, "dpo", seed, 0.5)
        write(root, "aspo", seed, 0.9)
    return root
