"""95% intervals from the seed spread and the item bootstrap (aspo_repro.intervals), without a model."""

import math

import numpy as np
import pytest

from aspo_repro.intervals import difference, estimate, resampled_values, resampling_weights


def accuracy_items(right: int, total: int) -> dict:
    return {"task": np.array([[1.0, 1.0]] * right + [[0.0, 1.0]] * (total - right))}


def test_resampled_values_centre_on_the_score_and_spread_like_a_proportion():
    draws = resampled_values(accuracy_items(60, 200), scale=100.0)
    assert draws.mean() == pytest.approx(30.0, abs=0.3)
    # the binomial standard error of 30% over 200 questions is 3.24 points
    assert draws.std() == pytest.approx(100 * math.sqrt(0.3 * 0.7 / 200), rel=0.1)


def test_the_same_task_is_resampled_alike_for_every_run():
    first, second = resampling_weights("mini_gqa", 50), resampling_weights("mini_gqa", 50)
    assert np.array_equal(first, second) and first.sum(1).tolist() == [50.0] * len(first)
    assert not np.array_equal(first, resampling_weights("mini_shr", 50))


def test_one_seed_without_items_has_no_interval():
    interval = estimate([71.5])
    assert (interval.mean, interval.low, interval.high, interval.sources) == (71.5, 71.5, 71.5, "none")


def test_seeds_give_a_t_interval():
    interval = estimate([70.0, 72.0, 74.0])
    # t(0.975, 2) = 4.303, sd 2, n 3
    assert interval.half_width == pytest.approx(4.303 * 2 / math.sqrt(3), rel=1e-3)
    assert interval.sources == "seeds" and interval.item_half is None


def test_seeds_and_items_add_in_quadrature():
    draws = [resampled_values(accuracy_items(60, 200), 100.0)] * 3
    both = estimate([29.0, 30.0, 31.0], draws)
    seeds_only = estimate([29.0, 30.0, 31.0])
    assert both.sources == "seeds+items"
    assert both.half_width == pytest.approx(math.hypot(seeds_only.half_width, both.item_half))


def test_a_paired_difference_on_the_same_items_is_tighter_than_its_sides():
    """Two runs that answer the same 200 questions alike but for 10 they flip: the paired bootstrap
    sees a 5-point gain with little noise, though each side alone is uncertain by about 6 points."""
    base = np.array([[1.0, 1.0]] * 60 + [[0.0, 1.0]] * 140)
    better = base.copy()
    better[60:70] = [1.0, 1.0]
    a = resampled_values({"t": better}, 100.0)
    b = resampled_values({"t": base}, 100.0)
    gain = difference([35.0], [30.0], [a], [b])
    assert gain.mean == pytest.approx(5.0)
    assert gain.excludes_zero and gain.half_width < 3.5
    assert estimate([35.0], [a]).half_width > 6.0


def test_a_difference_of_unchanged_runs_is_not_significant():
    draws = resampled_values(accuracy_items(60, 200), 100.0)
    same = difference([30.0, 31.0, 29.0], [30.5, 29.5, 30.0], [draws] * 3, [draws] * 3)
    assert not same.excludes_zero


def test_a_difference_against_a_base_model_uses_the_method_seeds_spread():
    against_base = difference([70.0, 72.0, 74.0], [60.0])
    assert against_base.mean == pytest.approx(12.0)
    assert against_base.seed_half == pytest.approx(estimate([70.0, 72.0, 74.0]).seed_half)


def test_seeds_are_paired_by_id_not_by_position():
    """ASPO on seeds 0, 1, 2 against DPO on seeds 1, 2, 3: only seeds 1 and 2 pair, each ASPO run 1 above
    its own seed's DPO run (by position the differences would be 1 - 4, 3 - 1, 5 - 3)."""
    aspo = [1.0, 3.0, 5.0]  # seeds 0, 1, 2
    dpo = [2.0, 4.0, 9.0]  # seeds 1, 2, 3
    by_id = difference(aspo, dpo, seeds_a=[0, 1, 2], seeds_b=[1, 2, 3])
    assert by_id.mean == pytest.approx(1.0) and by_id.n == 2
    assert by_id.seed_half == pytest.approx(0.0)
    by_position = difference(aspo, dpo)
    assert by_position.seed_half > 1
