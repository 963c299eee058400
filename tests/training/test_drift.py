"""The held-out pairs: kept out of training by a fixed hash of their id, measured after it."""

import json

import pytest
from prefdata import make_rows, save_prefs
from train_helpers import FAST

from aspo_repro.training import TrainConfig, train
from aspo_repro.training.drift import is_held_out, summary


def test_the_held_out_pairs_depend_on_the_id_only():
    ids = [f"pool-{i:05d}-0" for i in range(2000)]
    held = [i for i in ids if is_held_out(i, 0.1)]
    assert 150 < len(held) < 250  # about a tenth
    assert held == [i for i in ids if is_held_out(i, 0.1)]
    assert not any(is_held_out(i, 0.0) for i in ids)


def test_a_summary_is_a_mean_with_a_normal_interval():
    measured = summary([0.0, -0.1, -0.2, -0.1])
    assert measured["mean"] == pytest.approx(-0.1)
    low, high = measured["ci95"]
    assert low < -0.1 < high and high - low == pytest.approx(2 * 1.96 * 0.08165 / 2, rel=1e-2)


def test_training_measures_its_drift_on_pairs_it_never_saw(tmp_path, llava_dir):
    prefs = save_prefs(tmp_path / "prefs", make_rows(40, seed=3))
    config = TrainConfig(**{**FAST, "learning_rate": 5e-3}, max_steps=3, held_out=0.25)
    outcome = train("dpo", str(llava_dir), prefs, tmp_path / "run", config, log=lambda _: None)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    held = record["held_out"]
    expected = sum(is_held_out(f"pair-{i}", 0.25) for i in range(40))
    assert held["pairs"] == expected == record["data"]["held_out_pairs"]
    assert record["data"]["trained_pairs"] == 40 - expected
    assert set(outcome.trainer.train_dataset["id"]).isdisjoint(f"pair-{i}" for i in range(40)
                                                                 if is_held_out(f"pair-{i}", 0.25))
    # three steps at a large rate move the policy: its held-out answers are no longer the reference's
    assert held["chosen_drift_per_token"]["mean"] != 0.0
    for key in ("chosen_drift_per_token", "rejected_drift_per_token", "reward_margin", "reward_accuracy"):
        low, high = held[key]["ci95"]
        assert low <= held[key]["mean"] <= high
    # the evaluation carries the training's own record into the result
    from aspo_repro.evaluation.record import training_summary

    summary_ = training_summary(tmp_path / "run" / "merged")
    assert summary_["held_out"] == held and summary_["method"] == "dpo" and summary_["learning_rate"] == 5e-3
    assert training_summary(llava_dir) is None


def test_training_writes_nothing_into_the_preference_directory(tmp_path, llava_dir):
    """The held-out split selects in memory: a selection of a dataset read from disk would write its index
    into the preference directory, changing the data's content hash, which names the run (a finished run
    would then look like one with other settings)."""
    from aspo_repro.storage import sha256_tree

    prefs = save_prefs(tmp_path / "prefs", make_rows(20, seed=4))
    before = sorted(p.name for p in prefs.iterdir())
    train("dpo", str(llava_dir), prefs, tmp_path / "run", TrainConfig(**FAST, max_steps=1, held_out=0.25),
          log=lambda _: None)
    assert sorted(p.name for p in prefs.iterdir()) == before
    (prefs / "cache-0123456789abcdef.arrow").write_bytes(b"a cache of datasets'")
    assert sha256_tree(prefs, skip="cache-*.arrow") == sha256_tree(prefs.parent / "prefs", skip="cache-*.arrow")
