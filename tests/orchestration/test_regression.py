from aspo_repro.regression import compare, format_report
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey


def write(root, method, scores):
    EvalResult(RunKey("mini", "mini-llava-s", method, 0), {b: BenchmarkScore(v) for b, v in scores.items()}).save_to(root)


def test_scores_within_tolerance_pass_and_moves_fail_readably(tmp_path):
    write(tmp_path / "ref", "base", {"mini_pope": 80.0, "mini_gqa": 50.0})
    write(tmp_path / "ref", "dpo", {"mini_pope": 82.0})
    write(tmp_path / "new", "base", {"mini_pope": 80.3, "mini_gqa": 47.0})
    comparisons = compare(tmp_path / "ref", tmp_path / "new", "mini", {"default": 0.5, "mini_gqa": 1.0})
    by_key = {(c.method, c.benchmark): c for c in comparisons}
    assert by_key[("base", "mini_pope")].ok
    assert not by_key[("base", "mini_gqa")].ok and by_key[("base", "mini_gqa")].delta == -3.0
    assert by_key[("dpo", "mini_pope")].candidate is None and not by_key[("dpo", "mini_pope")].ok
    report = format_report(comparisons)
    assert "✗ mini-llava-s" in report and "missing" in report
    assert "1 of 3 scores within tolerance; 2 moved too far or are missing" in report
