"""The trainer against stock TRL: DPO (and ASPO on one-sentence responses) is DPO exactly."""

import pytest
import torch
from train_helpers import make_trainer, step_logs, trainable

STEPS = 3


def run_pair(model_dir, prefs_dir, method, tmp_path):
    ours = make_trainer(model_dir, prefs_dir, method, tmp_path / "ours", max_steps=STEPS)
    ours.train()
    stock = make_trainer(
        model_dir, prefs_dir, method, tmp_path / "stock", stock=True, max_steps=STEPS
    )
    stock.train()
    return ours, stock


def assert_same_training(ours, stock):
    ours_logs, stock_logs = step_logs(ours), step_logs(stock)
    assert len(ours_logs) == len(stock_logs) == STEPS
    assert ours_logs[0]["loss"] == pytest.approx(stock_logs[0]["loss"], rel=1e-6, abs=1e-7)
    ours_params, stock_params = trainable(ours), trainable(stock)
    assert ours_params.keys() == stock_params.keys() and ours_params
    for name in ours_params:
        torch.testing.assert_close(
            ours_params[name], stock_params[name], rtol=1e-5, atol=1e-6, msg=name
        )
    # the comparison is not vacuous: training moved the LoRA B matrices away from their zero start
    assert any(p.abs().max() > 1e-4 for n, p in ours_params.items() if "lora_B" in n)


def test_dpo_matches_stock_trl(llava_dir, prefs_dir, tmp_path):
    ours, stock = run_pair(llava_dir, prefs_dir, "dpo", tmp_path)
    assert_same_training(ours, stock)


def test_aspo_on_single_sentence_responses_matches_stock_trl(
    llava_dir, single_sentence_prefs_dir, tmp_path
):
    ours, stock = run_pair(llava_dir, single_sentence_prefs_dir, "aspo", tmp_path)
    assert_same_training(ours, stock)
    logs = step_logs(ours)
    assert all(
        entry["weights/max"] == 0.0 for entry in logs
    )  # one sentence: weight normalised to 0
    assert all(entry["c/mean"] == 1.0 for entry in logs)


def test_aspo_updates_differ_from_dpo_on_multi_sentence_responses(llava_dir, prefs_dir, tmp_path):
    aspo = make_trainer(llava_dir, prefs_dir, "aspo", tmp_path / "aspo", max_steps=2)
    aspo.train()
    dpo = make_trainer(llava_dir, prefs_dir, "dpo", tmp_path / "dpo", max_steps=2)
    dpo.train()
    aspo_params, dpo_params = trainable(aspo), trainable(dpo)
    largest = max((aspo_params[n] - dpo_params[n]).abs().max().item() for n in aspo_params)
    assert largest > 1e-4
    first = step_logs(aspo)[0]
    # step 1, fresh adapter: policy = reference, so the loss is log 2 for both methods
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)
    assert step_logs(dpo)[0]["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)
    logs = step_logs(aspo)
    for entry in logs:
        assert 0.0 <= entry["weights/min"] <= entry["weights/mean"] <= entry["weights/max"] <= 1.0
        assert 0.5 <= entry["c/mean"] <= 1.0
    assert any(entry["weights/max"] > entry["weights/min"] for entry in logs)  # several sentences
