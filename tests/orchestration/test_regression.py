"""regress: candidates against reference distributions over world replicates and seeds."""

import pytest

from aspo_repro.regression import (
    RegressionFile,
    compare,
    format_report,
    machine_note,
    reference_roots,
)
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey

SETTINGS = RegressionFile(confidence=0.95, floor={"default": 0.5}, versus={"aspo": "dpo"})


def write(root, method, scores, seed=0, hardware=None):
    provenance = {"hardware": hardware} if hardware else {}
    EvalResult(RunKey("mini", "mini-llava-s", method, seed), {b: BenchmarkScore(v) for b, v in scores.items()},
               provenance).save_to(root)


def world(root, base, dpo_effects, aspo_minus_dpo):
    """A world replicate: a base model, and per seed DPO's effect and ASPO's difference to DPO on mini-SHR."""
    write(root, "base", {"mini_shr": base})
    for seed, (effect, gap) in enumerate(zip(dpo_effects, aspo_minus_dpo)):
        write(root, "dpo", {"mini_shr": base + effect}, seed)
        write(root, "aspo", {"mini_shr": base + effect + gap}, seed)


@pytest.fixture
def reference(tmp_path):
    """Three worlds whose base models differ by several points (as on other CPUs), each trained with three seeds:
    DPO lowers mini-SHR by about 5, ASPO by about 3 more."""
    world(tmp_path / "ref" / "world0", 50.0, [-5.0, -4.0, -6.0], [-3.0, -2.5, -3.5])
    world(tmp_path / "ref" / "world1", 54.0, [-4.5, -5.5, -5.0], [-3.2, -2.8, -3.0])
    world(tmp_path / "ref" / "world2", 47.0, [-5.5, -4.5, -5.0], [-2.7, -3.3, -3.0])
    return tmp_path / "ref"


def test_a_run_on_another_machine_with_nothing_changed_passes(reference, tmp_path):
    world(tmp_path / "other", 52.0, [-5.2, -4.8], [-3.1, -2.9])  # another base model, as another CPU makes
    checks = compare(reference, tmp_path / "other", "mini", SETTINGS)
    assert all(check.ok for check in checks), format_report(checks)
    kinds = {check.kind for check in checks}
    assert kinds == {"score", "Δ base", "Δ vs dpo"}


def test_a_method_whose_effect_changed_fails(reference, tmp_path):
    """ASPO with its normaliser keeping the gradient is DPO: the difference to DPO becomes 0 on every seed."""
    world(tmp_path / "broken", 52.0, [-5.2, -4.8], [0.0, 0.0])
    checks = compare(reference, tmp_path / "broken", "mini", SETTINGS)
    failed = {(c.method, c.kind) for c in checks if not c.ok}
    assert ("aspo", "Δ vs dpo") in failed
    assert "✗ mini-llava-s" in format_report(checks)


def test_missing_results_fail_and_the_report_counts_them(reference, tmp_path):
    write(tmp_path / "partial", "base", {"mini_shr": 51.0})
    checks = compare(reference, tmp_path / "partial", "mini", SETTINGS)
    missing = [c for c in checks if c.candidate_mean is None]
    assert missing and not any(c.ok for c in missing)
    assert f"{len(checks) - len(missing)} of {len(checks)} checks" in format_report(checks)


def test_a_band_is_never_narrower_than_the_floor(tmp_path):
    world(tmp_path / "ref" / "world0", 50.0, [-5.0, -5.0, -5.0], [-3.0, -3.0, -3.0])
    world(tmp_path / "near", 50.0, [-5.3, -5.3], [-3.0, -3.0])
    checks = compare(tmp_path / "ref", tmp_path / "near", "mini", SETTINGS)
    assert all(check.ok for check in checks) and min(c.band for c in checks) == 0.5


def test_a_reference_without_world_directories_is_one_world(tmp_path):
    write(tmp_path / "plain", "base", {"mini_shr": 50.0})
    assert reference_roots(tmp_path / "plain") == [tmp_path / "plain"]
    (tmp_path / "many" / "world1").mkdir(parents=True)
    (tmp_path / "many" / "world0").mkdir()
    assert [p.name for p in reference_roots(tmp_path / "many")] == ["world0", "world1"]


def test_results_of_another_cpu_are_named_in_a_note(tmp_path):
    here = {"cpu": "Intel(R) Xeon(R) Processor (6/207)", "torch_cpu_capability": "AVX512"}
    there = {"cpu": "AMD EPYC 9B14 (25/17)", "torch_cpu_capability": "AVX512"}
    write(tmp_path / "ref" / "world0", "base", {"mini_pope": 80.0}, hardware=here)
    write(tmp_path / "same", "base", {"mini_pope": 80.0}, hardware=here)
    write(tmp_path / "other", "base", {"mini_pope": 80.0}, hardware=there)
    write(tmp_path / "unknown", "base", {"mini_pope": 80.0})
    assert machine_note(tmp_path / "ref", tmp_path / "same", "mini") is None
    assert machine_note(tmp_path / "ref", tmp_path / "unknown", "mini") is None
    note = machine_note(tmp_path / "ref", tmp_path / "other", "mini")
    assert "AMD EPYC 9B14 (25/17) AVX512" in note and "Intel(R) Xeon(R) Processor (6/207) AVX512" in note


def test_the_spread_splits_into_worlds_and_seeds():
    from aspo_repro.regression import variance_components

    # three worlds 10 apart, seeds within each 1 apart: the worlds' variance is 100 less a share of the seeds'
    between, within = variance_components([(9.0, 10.0, 11.0), (19.0, 20.0, 21.0), (29.0, 30.0, 31.0)])
    assert within == pytest.approx(1.0) and between == pytest.approx(100.0 - 1.0 / 3)
    # worlds that differ no more than their seeds: nothing between them
    assert variance_components([(0.0, 2.0), (1.0, 1.0)])[0] == 0.0
    assert variance_components([(5.0,), (7.0,)]) == (2.0, 0.0)  # one seed per world: all between worlds
