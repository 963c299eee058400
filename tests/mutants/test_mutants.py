"""Each injected fault does what its description says, and restoring undoes it (without any model)."""

import os
import subprocess
import sys
from pathlib import Path

import mutants
import pytest
import torch

from aspo_repro import weights
from aspo_repro.losses import aspo as aspo_module
from aspo_repro.losses import dispatch, dpo_loss
from aspo_repro.losses.common import ResponseLogps
from aspo_repro.methods import AspoOptions, get_method
from aspo_repro.training import formatting, run

BETA = 0.1


@pytest.fixture
def mutant(monkeypatch):
    """Applies mutants; restores before ``monkeypatch`` undoes its own patches (it is set up first)."""
    applied = []

    def apply(name):
        applied.append(mutants.apply(name))

    yield apply
    mutants.restore()


def side(lengths, width, seed):
    gen = torch.Generator().manual_seed(seed)
    policy = -torch.rand(len(lengths), width, generator=gen) * 3
    reference = policy + 0.3 * torch.randn(len(lengths), width, generator=gen)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    return ResponseLogps(policy.requires_grad_(True), reference, mask)


def batch():
    chosen, rejected = side([6, 6], 6, 0), side([5, 6], 6, 1)
    units = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 2]])
    similarity = torch.tensor([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4]])
    return chosen, rejected, units, similarity


SIMILARITY_ONLY = AspoOptions(alpha=1.0)


def aspo(options=SIMILARITY_ONLY):
    chosen, rejected, units, similarity = batch()
    return dispatch.aspo_loss(chosen, rejected, units, options, beta=BETA, similarity=similarity)


def test_weights_inverted_turns_every_weight_into_one_minus_it(mutant):
    honest = aspo()
    mutant("weights-inverted")
    inverted = aspo()
    assert torch.allclose(inverted.weights, 1 - honest.weights)
    assert not torch.allclose(inverted.loss, honest.loss)


def test_aspo_degraded_into_dpo_has_dpo_s_loss_and_gradient(mutant):
    mutant("aspo-is-dpo")
    chosen, rejected, units, similarity = batch()
    out = aspo_module.aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), beta=BETA, similarity=similarity)
    out.loss.backward()
    reference_chosen, reference_rejected, _, _ = batch()
    dpo = dpo_loss(reference_chosen, reference_rejected, BETA)
    dpo.loss.backward()
    assert torch.equal(out.weights, torch.zeros_like(out.weights)) and torch.equal(out.c, torch.ones_like(out.c))
    assert torch.allclose(out.loss, dpo.loss)
    assert torch.allclose(chosen.policy.grad, reference_chosen.policy.grad)


def chosen_gradient(loss_of):
    chosen, rejected, units, similarity = batch()
    loss_of(chosen, rejected, units, similarity).loss.backward()
    return chosen.policy.grad


def test_a_normaliser_keeping_its_gradient_gives_dpo_s_gradient(mutant):
    """With c unclamped ASPO's margin has DPO's value; only c's missing gradient makes its update differ."""
    options = AspoOptions(alpha=1.0, clamp_c=False)

    def aspo_of(chosen, rejected, units, similarity):
        return dispatch.aspo_loss(chosen, rejected, units, options, beta=BETA, similarity=similarity)

    dpo = chosen_gradient(lambda chosen, rejected, *_: dpo_loss(chosen, rejected, BETA))
    honest = chosen_gradient(aspo_of)
    mutant("normaliser-gradient")
    broken = chosen_gradient(aspo_of)
    assert torch.allclose(broken, dpo, atol=1e-6)
    assert not torch.allclose(honest, dpo, atol=1e-4)


def test_perplexity_sign_flipped_ranks_fluent_sentences_last(mutant):
    nll = torch.tensor([[0.5, 2.0, 1.0]])
    mask = torch.ones_like(nll, dtype=torch.bool)
    honest = weights.perplexity_weights(nll, mask)
    mutant("perplexity-sign")
    flipped = weights.perplexity_weights(nll, mask)
    assert honest.argmax() == 0 and flipped.argmax() == 1  # the most fluent sentence first, then last


def test_beta_times_ten(mutant):
    mutant("beta-x10")
    assert run.get_method("dpo", beta=0.1).beta == pytest.approx(1.0)
    assert get_method("dpo", beta=0.1).beta == pytest.approx(0.1)  # the registry itself untouched


def test_a_fifth_of_the_pairs_is_swapped():
    fraction = sum(mutants.swapped(f"pair-{i}") for i in range(5000)) / 5000
    assert 0.18 < fraction < 0.22


def formatted_rows():
    from datasets import Dataset
    from PIL import Image

    image = Image.new("RGB", (4, 4), (255, 0, 0))
    return Dataset.from_dict({"id": ["a"], "images": [[image]], "sentence_similarity": [[0.9, 0.2, 0.5]]})


@pytest.mark.parametrize("name, judge_scores, expected", [
    ("spans-shifted", False, [0.2, 0.5, 0.9]),
    ("oracle-inverted", True, [0.1, 0.8, 0.5]),
    ("oracle-inverted", False, [0.9, 0.2, 0.5]),  # only the oracle's verdicts
])
def test_sentence_scores_moved_or_inverted(mutant, monkeypatch, name, judge_scores, expected):
    monkeypatch.setattr(formatting, "format_preferences", lambda *args, **kwargs: formatted_rows())
    mutant(name)
    out = formatting.format_preferences(None, None, "llava", 64, "skip", judge_scores=judge_scores)
    assert out[0]["sentence_similarity"] == pytest.approx(expected)


def test_image_blanked(mutant, monkeypatch):
    monkeypatch.setattr(formatting, "format_preferences", lambda *args, **kwargs: formatted_rows())
    mutant("image-blanked")
    image = formatting.format_preferences(None, None, "llava", 64, "skip")[0]["images"][0]
    assert image.size == (4, 4) and set(image.getdata()) == {(128, 128, 128)}


def test_adapter_dropped_saves_the_base_weights(mutant):
    from peft import LoraConfig, get_peft_model

    base = torch.nn.Sequential(torch.nn.Linear(4, 4))
    original = base[0].weight.detach().clone()
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["0"], init_lora_weights=False))
    mutant("adapter-dropped")
    merged = model.merge_and_unload()
    assert torch.equal(merged[0].weight, original)


def test_restoring_undoes_every_patch():
    before = (aspo_module.adaptive_weights, dispatch.aspo_loss, weights.perplexity_weights,
              formatting.format_preferences, run.get_method)
    for name in mutants.MUTANTS:
        mutants.apply(name)
    mutants.restore()
    assert (aspo_module.adaptive_weights, dispatch.aspo_loss, weights.perplexity_weights,
            formatting.format_preferences, run.get_method) == before


def test_the_mutant_is_applied_in_a_process_started_with_the_environment():
    directory = Path(mutants.__file__).parent
    env = {**os.environ, mutants.MUTANT_ENV: "beta-x10", "PYTHONPATH": str(directory)}
    code = "from aspo_repro.training import run; print(run.get_method('dpo', beta=0.1).beta)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) == pytest.approx(1.0)
