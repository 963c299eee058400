"""ASPO's named choices (norm, ppl_source): one registry each, read by the option check and the loss."""

import subprocess
import sys

import pytest
import torch

from aspo_repro import methods
from aspo_repro.aspo_choices import NORMALISERS, PERPLEXITY_SOURCES
from aspo_repro.errors import UserError
from aspo_repro.losses import ResponseLogps, normaliser


def test_the_method_options_are_the_registries_names():
    assert methods.NORMS == tuple(NORMALISERS) == ("reward_ratio", "weight_mean", "none")
    assert methods.PPL_SOURCES == tuple(PERPLEXITY_SOURCES) == ("policy", "reference")


@pytest.mark.parametrize("option", ["norm", "ppl_source"])
def test_an_unknown_choice_is_refused_listing_the_known_ones(option):
    known = {"norm": NORMALISERS, "ppl_source": PERPLEXITY_SOURCES}[option]
    with pytest.raises(UserError, match=f"{option} must be one of {', '.join(known)}; got 'mean'"):
        methods.get_method("aspo", **{option: "mean"})


def test_the_loss_refuses_an_unknown_norm_listing_the_known_ones():
    rewards = torch.zeros(1, 2)
    with pytest.raises(UserError, match="unknown norm 'mean'; known norms: none, reward_ratio, weight_mean"):
        normaliser("mean", rewards, rewards, rewards + 1, torch.ones(1, 2, dtype=torch.bool))


def test_each_perplexity_source_reads_its_own_log_probs():
    policy, reference = torch.tensor([[-1.0]]), torch.tensor([[-2.0]])
    chosen = ResponseLogps(policy=policy, reference=reference, mask=torch.ones(1, 1, dtype=torch.bool))
    assert PERPLEXITY_SOURCES["policy"](chosen) is policy
    assert PERPLEXITY_SOURCES["reference"](chosen) is reference


def test_the_method_registry_reads_the_choices_without_importing_torch():
    code = "import sys, aspo_repro.methods; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
