from aspo_repro.regression import compare, format_report, machine_note
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey


def write(root, method, scores, hardware=None):
    provenance = {"hardware": hardware} if hardware else {}
    EvalResult(RunKey("mini", "mini-llava-s", method, 0), {b: BenchmarkScore(v) for b, v in scores.items()},
               provenance).save_to(root)


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


def test_results_of_another_cpu_are_named_in_a_note(tmp_path):
    here = {"cpu": "Intel(R) Xeon(R) Processor (6/207)", "torch_cpu_capability": "AVX512"}
    there = {"cpu": "AMD EPYC 9B14 (25/17)", "torch_cpu_capability": "AVX512"}
    write(tmp_path / "ref", "base", {"mini_pope": 80.0}, here)
    write(tmp_path / "same", "base", {"mini_pope": 80.0}, here)
    write(tmp_path / "other", "base", {"mini_pope": 80.0}, there)
    write(tmp_path / "unknown", "base", {"mini_pope": 80.0})
    assert machine_note(tmp_path / "ref", tmp_path / "same", "mini") is None
    assert machine_note(tmp_path / "ref", tmp_path / "unknown", "mini") is None
    note = machine_note(tmp_path / "ref", tmp_path / "other", "mini")
    assert "AMD EPYC 9B14 (25/17) AVX512" in note and "Intel(R) Xeon(R) Processor (6/207) AVX512" in note
