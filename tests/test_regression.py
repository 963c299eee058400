"""regress: candidates against reference distributions over world replicates and seeds."""

import math

import pytest

from aspo_repro.errors import UserError
from aspo_repro.regression import (
    PrimaryCheck,
    RegressionFile,
    compare,
    format_report,
    load_settings,
    machine_note,
    reference_roots,
    spread,
)
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey

SETTINGS = RegressionFile(
    false_alarm_rate=0.05, floor={"default": 0.5},
    primary=(PrimaryCheck("aspo", "dpo", ("mini_shr",)), PrimaryCheck("dpo", "base", ("mini_shr",))),
)


def write(root, method, scores, seed=0, hardware=None, items=None):
    provenance = {"hardware": hardware} if hardware else {}
    EvalResult(RunKey("mini", "mini-llava-s", method, seed),
               {b: BenchmarkScore(v, items=items) for b, v in scores.items()}, provenance).save_to(root)


def world(root, base, dpo_effects, aspo_minus_dpo, seeds=None):
    """A world replicate: a base model, and per seed DPO's effect and ASPO's difference to DPO on mini-SHR."""
    write(root, "base", {"mini_shr": base})
    for seed, effect, gap in zip(seeds or range(len(dpo_effects)), dpo_effects, aspo_minus_dpo):
        write(root, "dpo", {"mini_shr": base + effect}, seed)
        write(root, "aspo", {"mini_shr": base + effect + gap}, seed)


@pytest.fixture
def reference(tmp_path):
    """Four worlds whose base models differ by several points (as on other CPUs), each trained with four seeds:
    DPO lowers mini-SHR by about 5, ASPO by about 3 more."""
    world(tmp_path / "ref" / "world1", 50.0, [-5.0, -4.0, -6.0, -5.0], [-3.0, -2.5, -3.5, -3.1])
    world(tmp_path / "ref" / "world2", 54.0, [-4.5, -5.5, -5.0, -4.8], [-3.2, -2.8, -3.0, -2.9])
    world(tmp_path / "ref" / "world3", 47.0, [-5.5, -4.5, -5.0, -5.2], [-2.7, -3.3, -3.0, -3.2])
    world(tmp_path / "ref" / "world4", 51.0, [-4.9, -5.1, -5.6, -4.4], [-3.1, -2.9, -2.6, -3.3])
    return tmp_path / "ref"


def test_a_run_on_another_machine_with_nothing_changed_passes(reference, tmp_path):
    world(tmp_path / "other", 52.0, [-5.2, -4.8, -5.1], [-3.1, -2.9, -3.0])  # another base model, as another CPU
    comparison = compare(reference, tmp_path / "other", "mini", SETTINGS)
    assert comparison.passed, format_report(comparison)
    assert {(c.method, c.kind) for c in comparison.primary} == {("aspo", "Δ vs dpo"), ("dpo", "Δ base")}
    assert {c.kind for c in comparison.secondary} == {"score", "Δ base"}


def test_a_method_whose_effect_changed_fails_its_primary_check(reference, tmp_path):
    """ASPO with its normaliser keeping the gradient is DPO: the difference to DPO becomes 0 on every seed."""
    world(tmp_path / "broken", 52.0, [-5.2, -4.8, -5.1], [0.0, 0.0, 0.0])
    comparison = compare(reference, tmp_path / "broken", "mini", SETTINGS)
    assert not comparison.passed
    assert [(c.method, c.kind) for c in comparison.primary if not c.ok] == [("aspo", "Δ vs dpo")]
    assert "✗ mini-llava-s" in format_report(comparison)


def test_a_secondary_check_outside_its_band_is_reported_but_does_not_fail(reference, tmp_path):
    world(tmp_path / "moved", 90.0, [-5.2, -4.8, -5.1], [-3.1, -2.9, -3.0])  # a base model far from the reference's
    comparison = compare(reference, tmp_path / "moved", "mini", SETTINGS)
    assert comparison.passed
    assert any(not c.ok for c in comparison.secondary)
    assert "secondary checks outside their bands" in format_report(comparison)


def test_differences_pair_seeds_by_id(reference, tmp_path):
    """DPO's seed 7 has no ASPO run: it enters no difference, and ASPO's seeds pair with DPO's of the same id."""
    world(tmp_path / "ids", 52.0, [-5.2, -4.8, -5.1], [-3.1, -2.9, -3.0], seeds=[5, 6, 8])
    write(tmp_path / "ids", "dpo", {"mini_shr": 0.0}, seed=7)
    aspo = next(c for c in compare(reference, tmp_path / "ids", "mini", SETTINGS).primary if c.method == "aspo")
    assert aspo.candidate == pytest.approx((-3.1, -2.9, -3.0))


def test_a_difference_between_runs_on_other_items_is_refused(tmp_path):
    write(tmp_path / "ref" / "world1", "dpo", {"mini_shr": 50.0}, items={"mini_shr": [[1, 2]] * 40})
    write(tmp_path / "ref" / "world1", "aspo", {"mini_shr": 40.0}, items={"mini_shr": [[1, 2]] * 80})
    with pytest.raises(UserError, match="different items"):
        compare(tmp_path / "ref", tmp_path / "none", "mini", RegressionFile(primary=(SETTINGS.primary[0],)))


def test_missing_results_fail_and_the_report_counts_them(reference, tmp_path):
    write(tmp_path / "partial", "base", {"mini_shr": 51.0})
    comparison = compare(reference, tmp_path / "partial", "mini", SETTINGS)
    assert not comparison.passed and all(c.candidate_mean is None for c in comparison.primary)
    assert f"0 of {len(comparison.primary)} primary checks" in format_report(comparison)


def test_a_band_is_never_narrower_than_the_floor(tmp_path):
    for k in (1, 2):
        world(tmp_path / "ref" / f"world{k}", 50.0, [-5.0, -5.0, -5.0], [-3.0, -3.0, -3.0])
    world(tmp_path / "near", 50.0, [-5.3, -5.3], [-3.0, -3.0])
    comparison = compare(tmp_path / "ref", tmp_path / "near", "mini", SETTINGS)
    assert comparison.passed and min(c.band for c in comparison.checks) == 0.5


def test_the_spread_of_a_balanced_reference_is_the_analysis_of_variance_s():
    """Three worlds 10 apart, seeds within each 1 apart (MSW 1, MSB 300): a new world's mean over 2 seeds
    varies by (1 + 1/3) / 3 MSB + (1/2 - 1/3) MSW, with Satterthwaite's degrees of freedom."""
    found = spread([(9.0, 10.0, 11.0), (19.0, 20.0, 21.0), (29.0, 30.0, 31.0)], seeds=2)
    a_msb, b_msw = (4 / 3) / 3 * 300.0, (1 / 2 - 1 / 3) * 1.0
    assert found.variance == pytest.approx(a_msb + b_msw)
    assert found.df == pytest.approx((a_msb + b_msw) ** 2 / (a_msb**2 / 2 + b_msw**2 / 6))


def test_worlds_alike_give_more_degrees_of_freedom_than_worlds_apart():
    apart = spread([(9.0, 10.0, 11.0), (19.0, 20.0, 21.0), (29.0, 30.0, 31.0)], seeds=1)
    alike = spread([(9.0, 10.0, 11.0), (9.5, 10.5, 11.5), (10.0, 9.0, 11.0)], seeds=1)
    assert apart.df < 3 < alike.df


def test_one_world_or_one_seed_per_world():
    one_world = spread([(9.0, 10.0, 11.0)], seeds=3)
    assert one_world.variance == pytest.approx(1.0 * (1 / 3 + 1 / 3)) and one_world.df == 2
    one_seed = spread([(5.0,), (7.0,)], seeds=1)
    assert one_seed.variance == pytest.approx(2.0 * 1.5) and one_seed.df == 1
    assert spread([(5.0,)], seeds=1) is None


def test_the_minimum_detectable_effect_lies_beyond_the_band(reference, tmp_path):
    world(tmp_path / "other", 52.0, [-5.2, -4.8, -5.1], [-3.1, -2.9, -3.0])
    for check in compare(reference, tmp_path / "other", "mini", SETTINGS).checks:
        assert check.mde >= check.band and math.isfinite(check.mde)


def test_the_committed_settings_declare_one_correct_sentence_check_per_method():
    settings = load_settings()
    pairs = {(c.method, c.versus) for c in settings.primary}
    assert pairs == {("aspo", "dpo"), ("aspo-s", "dpo"), ("aspo-p", "dpo"), ("aspo-oracle", "dpo"), ("dpo", "none")}
    assert all(c.benchmarks == ("mini_shr_correct",) for c in settings.primary)


def test_a_check_against_none_decides_on_the_method_s_own_score(reference, tmp_path):
    """DPO checked on its level: a world whose base model sits far from the reference's moves DPO's change
    over base (a secondary check now) but not DPO's score; a DPO that stopped moving fails."""
    settings = RegressionFile(false_alarm_rate=0.05, floor={"default": 0.5},
                              primary=(PrimaryCheck("dpo", "none", ("mini_shr",)),))
    world(tmp_path / "ref2" / "world1", 50.0, [-5.0, -4.0, -6.0], [0, 0, 0])
    world(tmp_path / "ref2" / "world2", 51.0, [-5.5, -4.5, -5.0], [0, 0, 0])
    world(tmp_path / "ref2" / "world3", 49.0, [-4.0, -5.0, -4.5], [0, 0, 0])
    world(tmp_path / "odd-base", 60.0, [-15.0, -15.5, -14.5], [0, 0, 0])  # DPO lands where it always does
    comparison = compare(tmp_path / "ref2", tmp_path / "odd-base", "mini", settings)
    assert [(c.method, c.kind) for c in comparison.primary] == [("dpo", "score")]
    assert comparison.passed, format_report(comparison)
    assert any(not c.ok for c in comparison.secondary if c.kind == "Δ base")
    world(tmp_path / "inert", 50.5, [0.0, 0.0, 0.0], [0, 0, 0])  # DPO no longer moves off its base
    assert not compare(tmp_path / "ref2", tmp_path / "inert", "mini", settings).passed


def test_a_primary_check_on_an_unknown_benchmark_is_one_line(tmp_path):
    path = tmp_path / "regression.yaml"
    path.write_text("primary:\n  - {method: aspo, versus: dpo, benchmarks: [mini_nope]}\n")
    with pytest.raises(UserError, match="unknown benchmark 'mini_nope'"):
        load_settings(path)


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


def test_worlds_closer_than_their_seeds_never_make_the_band_narrower_than_the_seeds_allow():
    """Four worlds with the same mean (MSB = 0 < MSW): a candidate of 5 seeds still varies by the seeds'
    variance over 5, not by the (too small) combination a MSB + b MSW."""
    worlds = [(1.0, 2.0, 3.0, 1.0, 2.0, 3.0)] * 4
    found = spread(worlds, seeds=5)
    msw = 0.8
    assert found.variance == pytest.approx(msw * (1 / 5 + 1 / 24)) and found.df == 20


def test_a_candidate_of_a_reference_world_is_compared_within_it_against_its_other_seeds(reference, tmp_path):
    """The candidate's base model answers as world2's: each check against world2's seeds that the
    candidate does not have, the seed spread pooled over the four worlds; ASPO's gap to DPO 1.2 smaller
    fails within the world."""
    import shutil

    shutil.copytree(reference / "world2", tmp_path / "same")
    for path in (tmp_path / "same").rglob("seed3"):
        shutil.rmtree(path)  # the candidate: seeds 0-2 of world2, a run never in its own reference
    comparison = compare(reference, tmp_path / "same", "mini", SETTINGS)
    assert comparison.same_world == "world2" and comparison.passed
    aspo = next(c for c in comparison.primary if c.method == "aspo")
    assert aspo.reference_values == [pytest.approx(-2.9)]  # world2's seed 3 only
    assert "same world: the candidate's base models answer every item as reference world2's" in format_report(comparison)
    world(tmp_path / "shifted", 54.0, [-4.5, -5.5, -5.0], [-1.9, -1.5, -1.7])  # world2's base, ASPO's gap 1.2 smaller
    within = compare(reference, tmp_path / "shifted", "mini", SETTINGS)
    assert within.same_world == "world2" and not within.passed
    across = compare(reference, tmp_path / "shifted", "mini", SETTINGS, reference_worlds=[
        reference / "world1", reference / "world3", reference / "world4"])
    assert across.same_world is None


def test_a_candidate_whose_world_holds_only_its_own_seeds_is_compared_across_worlds(reference, tmp_path):
    import shutil

    shutil.copytree(reference / "world3", tmp_path / "all-seeds")  # seeds 0-3: nothing of world3 left to compare with
    assert compare(reference, tmp_path / "all-seeds", "mini", SETTINGS).same_world is None


def test_a_candidate_of_another_world_is_compared_across_worlds_and_said_so(reference, tmp_path):
    world(tmp_path / "other", 52.0, [-5.2, -4.8, -5.1], [-3.1, -2.9, -3.0])  # a base model no reference world has
    comparison = compare(reference, tmp_path / "other", "mini", SETTINGS)
    assert comparison.same_world is None and all(c.same_world is None for c in comparison.checks)
    assert "across worlds: no reference world's base models answer as the candidate's" in format_report(comparison)


def test_the_same_world_spread_is_the_pooled_seed_variance():
    from aspo_repro.regression import same_world_spread

    reference = [(1.0, 3.0), (10.0, 12.0, 14.0)]  # within-world squares 2 + 8 over 1 + 2 degrees of freedom
    found = same_world_spread(reference, 1, seeds=2)
    assert found.df == 3 and found.variance == pytest.approx(10 / 3 * (1 / 2 + 1 / 3))
