"""The trainer's speed switches leave the numbers as they were (issue 8).

The packed layout (one sequence per pair) is checked against hand-computed positions, segments and
attention masks, and against the two-row layout's log-probs; every switch is checked by training:
the same loss curve and the same LoRA weights with the switch on and off.
"""

import dataclasses
import json
import math

import pytest
import torch
from train_helpers import make_trainer, step_logs, trainable

from aspo_repro.training import TrainConfig, prepare_run, train
from aspo_repro.training.model_source import load_model_and_processor
from aspo_repro.training.packing import attention_mask, pack_pairs, pack_row
from aspo_repro.training.reference_cache import load_cache, save_cache, weights_digest
from aspo_repro.training.run import shares_prompt

STEPS = 3
# Each switch set against the defaults (shared_prompt, cache_reference_logps and fused_log_probs
# on, gradient checkpointing off), and all of them at once.
SWITCHES = {
    "shared_prompt": {"shared_prompt": False},
    "cache_reference_logps": {"cache_reference_logps": False},
    "fused_log_probs": {"fused_log_probs": False},
    "gradient_checkpointing": {"gradient_checkpointing": True},
    "all": {
        "shared_prompt": False,
        "cache_reference_logps": False,
        "fused_log_probs": False,
        "gradient_checkpointing": True,
    },
}


# ---------------------------------------------------------------- the packed layout, by hand


def test_pack_row_layout():
    row = pack_row(torch.tensor([10, 11, 12]), torch.tensor([20, 21]), torch.tensor([30]))
    assert row.input_ids.tolist() == [10, 11, 12, 20, 21, 12, 30]
    assert row.position_ids.tolist() == [0, 1, 2, 3, 4, 2, 3]
    assert row.segment_ids.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert row.chosen_targets.tolist() == [2, 3]  # 12 predicts 20, 20 predicts 21
    assert row.rejected_targets.tolist() == [5]  # the repeated 12 predicts 30


def test_attention_mask_by_hand():
    segments = torch.tensor([[0, 0, 1, 1, 1, 2, 2, -1]])
    expected = [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0, 1, 0, 0],  # rejected: the prompt's first tokens and its own segment
        [1, 1, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],  # padding attends itself only
    ]
    assert attention_mask(segments, torch.bool)[0, 0].int().tolist() == expected
    additive = attention_mask(segments, torch.float32)[0, 0]
    allowed = torch.tensor(expected).bool()
    assert (additive[allowed] == 0).all()
    assert (additive[~allowed] == torch.finfo(torch.float32).min).all()


def collated(trainer, count=3, pack=False):
    collator = dataclasses.replace(trainer.data_collator, pack_pairs=pack)
    return collator([trainer.train_dataset[i] for i in range(count)])


def test_packed_batch_holds_each_pair_once(llava_dir, prefs_dir, tmp_path):
    trainer = make_trainer(llava_dir, prefs_dir, "aspo", tmp_path, cache_reference_logps=False)
    rows, packed = collated(trainer), collated(trainer, pack=True)
    pairs = 3
    for i in range(pairs):
        chosen_row, rejected_row = (
            rows["input_ids"][j][rows["attention_mask"][j].bool()] for j in (i, pairs + i)
        )
        prompt_length = int(
            (rows["attention_mask"][i].bool() & ~rows["completion_mask"][i].bool()).sum()
        )
        prompt = chosen_row[:prompt_length]
        expected = torch.cat([chosen_row, prompt[-1:], rejected_row[prompt_length:]])
        assert packed["input_ids"][i][: len(expected)].tolist() == expected.tolist()
        assert (packed["segment_ids"][i][len(expected) :] == -1).all()
        units = rows["chosen_unit_ids"][i][rows["completion_mask"][i].bool()]
        assert packed["chosen_unit_ids"][i][packed["chosen_targets"][i]].tolist() == units.tolist()
    torch.testing.assert_close(packed["pixel_values"], rows["pixel_values"][:pairs])
    torch.testing.assert_close(packed["unit_similarity"], rows["unit_similarity"])
    assert packed["input_ids"].numel() < rows["input_ids"].numel()


def test_pack_pairs_refuses_pairs_with_different_prompts(llava_dir, prefs_dir, tmp_path):
    trainer = make_trainer(llava_dir, prefs_dir, "dpo", tmp_path, cache_reference_logps=False)
    rows = collated(trainer, count=2)
    rows["input_ids"][2, 0] += 1  # the first rejected row's prompt
    with pytest.raises(ValueError, match="different prompts"):
        pack_pairs(rows, pad_token_id=0)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_log_probs_equal_the_two_row_ones(llava_dir, prefs_dir, tmp_path, attention):
    trainer = make_trainer(llava_dir, prefs_dir, "aspo", tmp_path, cache_reference_logps=False)
    trainer.model.base_model.model.set_attn_implementation(attention)
    with torch.no_grad():  # an adapter that changes the outputs, so policy and reference differ
        generator = torch.Generator().manual_seed(0)
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    sides = {}
    for pack in (False, True):
        batch = trainer.pair_batch(collated(trainer, pack=pack))
        with torch.no_grad():
            policy = batch.token_log_probs(trainer.model, trainer._fused)
            reference = trainer.reference_log_probs(batch)
        chosen, rejected = batch.response_logps(policy, reference)
        sides[pack] = [
            [side.policy[i][side.mask[i]] for i in range(3)]
            + [side.reference[i][side.mask[i]] for i in range(3)]
            for side in (chosen, rejected)
        ]
        assert not torch.allclose(chosen.policy, chosen.reference)
    for two_rows, packed in zip(sides[False], sides[True]):
        for a, b in zip(two_rows, packed):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the switches, by training


def run_losses(model_dir, prefs_dir, method, out, **switches):
    """Three steps of plain SGD: its update is the gradient itself, so equal weights mean equal
    gradients (Adam divides each element by its own scale, and would magnify rounding wherever a
    gradient element is near 0); a large rate makes the loss move."""
    trainer = make_trainer(
        model_dir,
        prefs_dir,
        method,
        out,
        max_steps=STEPS,
        optimizer="sgd",
        learning_rate=1.0,
        **switches,
    )
    trainer.train()
    return [entry["loss"] for entry in step_logs(trainer)], trainable(trainer)


@pytest.fixture(scope="module")
def default_runs(llava_dir, prefs_dir, tmp_path_factory):
    return {
        method: run_losses(
            llava_dir, prefs_dir, method, tmp_path_factory.mktemp(f"default-{method}")
        )
        for method in ("dpo", "aspo")
    }


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dpo", "aspo"])
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_each_switch_keeps_the_loss_curve(
    default_runs, llava_dir, prefs_dir, tmp_path, method, switch
):
    losses, params = run_losses(llava_dir, prefs_dir, method, tmp_path, **SWITCHES[switch])
    default_losses, default_params = default_runs[method]
    assert len(losses) == len(default_losses) == STEPS
    assert losses == pytest.approx(default_losses, rel=1e-6, abs=1e-7)
    for name, expected in default_params.items():
        largest = (params[name] - expected).abs().max().item()
        assert largest <= 5e-5 * expected.abs().max().item() + 1e-9, name
    # not vacuous: the loss moved off log 2 (policy = reference at step 1) and the adapter trained
    assert abs(default_losses[-1] - math.log(2)) > 5e-3
    assert any(p.abs().max() > 1e-2 for n, p in default_params.items() if "lora_B" in n)


def test_training_with_the_cache_runs_no_reference_forward(llava_dir, prefs_dir, tmp_path):
    trainer = make_trainer(llava_dir, prefs_dir, "aspo", tmp_path, max_steps=2)

    def no_reference_forward(batch):
        raise AssertionError("the reference forward ran although the batch had cached values")

    trainer.reference_log_probs = no_reference_forward
    trainer.train()
    assert len(step_logs(trainer)) == 2


def test_default_trainer_packs_and_caches(llava_dir, prefs_dir, tmp_path):
    trainer = make_trainer(
        llava_dir, prefs_dir, "aspo", tmp_path / "out", reference_cache_dir=str(tmp_path / "cache")
    )
    assert trainer.data_collator.pack_pairs
    assert trainer.reference_pass.source == "computed"
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert "ref_token_logps" in batch and "segment_ids" in batch


# ---------------------------------------------------------------- the reference cache


def test_reference_cache_is_shared_by_methods_and_keyed_by_weights(llava_dir, prefs_dir, tmp_path):
    from tiny_models import save_tiny_llava

    cache = str(tmp_path / "cache")
    first = make_trainer(llava_dir, prefs_dir, "aspo", tmp_path / "a", reference_cache_dir=cache)
    second = make_trainer(llava_dir, prefs_dir, "dpo", tmp_path / "b", reference_cache_dir=cache)
    assert (first.reference_pass.source, second.reference_pass.source) == ("computed", "cache")
    assert first.reference_pass.file == second.reference_pass.file
    other_weights = save_tiny_llava(tmp_path / "other-llava", seed=1)
    third = make_trainer(other_weights, prefs_dir, "dpo", tmp_path / "c", reference_cache_dir=cache)
    assert third.reference_pass.source == "computed"
    assert third.reference_pass.file != first.reference_pass.file
    column = first.train_dataset["ref_chosen_token_logps"]
    assert column == second.train_dataset["ref_chosen_token_logps"]
    assert column != third.train_dataset["ref_chosen_token_logps"]


def test_cache_file_with_another_key_or_row_count_is_not_used(tmp_path):
    path = tmp_path / "ref.safetensors"
    values = (
        [torch.tensor([-1.0, -2.0]), torch.tensor([-3.0])],
        [torch.tensor([-4.0]), torch.tensor([])],
    )
    save_cache(path, "key-1", values)
    chosen, rejected = load_cache(path, "key-1", rows=2)
    assert [c.tolist() for c in chosen] == [[-1.0, -2.0], [-3.0]]
    assert [r.tolist() for r in rejected] == [[-4.0], []]
    assert load_cache(path, "key-2", rows=2) is None
    assert load_cache(path, "key-1", rows=3) is None
    assert load_cache(tmp_path / "missing.safetensors", "key-1", rows=2) is None


def test_weights_digest_sees_one_changed_weight(llava_dir):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(llava_dir))
    before = weights_digest(model)
    assert weights_digest(model) == before
    with torch.no_grad():
        model.get_input_embeddings().weight[3, 5] += 1e-3
    assert weights_digest(model) != before


def test_run_records_its_reference_pass_and_caches_beside_the_data(llava_dir, prefs_dir, tmp_path):
    from prefdata import make_rows, save_prefs

    prefs = save_prefs(tmp_path / "data" / "prefs", make_rows(4, seed=3))
    config = TrainConfig(
        global_batch_size=2, max_steps=1, lora_r=4, lora_alpha=8, save_steps=1000
    )
    record = train(
        "dpo", str(llava_dir), prefs, tmp_path / "run", config, log=lambda _: None
    ).record
    assert record["reference_logps"]["source"] == "computed"
    assert record["reference_logps"]["pairs"] == 4
    assert list((tmp_path / "data" / "reference-logps").glob("llava-*.safetensors"))
    assert (
        json.loads((tmp_path / "run" / "run.json").read_text())["reference_logps"]
        == record["reference_logps"]
    )


def test_packing_only_where_it_is_exact(llava_dir, instructblip_dir, prefs_dir, tmp_path):
    def packs(model_dir, **config):
        prepared = prepare_run("dpo", str(model_dir), prefs_dir, tmp_path, TrainConfig(**config))
        model, _ = load_model_and_processor(prepared.choice)
        return shares_prompt(prepared, model)

    assert packs(llava_dir)
    assert not packs(llava_dir, shared_prompt=False)
    # with dropout, the prompt's dropout masks would differ from the two-row layout's
    assert not packs(llava_dir, lora_dropout=0.1)
    assert not packs(instructblip_dir)
