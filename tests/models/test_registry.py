"""The model registry: registered models, and graded base models named after a registered mini model."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.models.registry import get_model_spec, graded_name, is_model_name, model_names


def test_a_graded_model_is_its_mini_model_trained_for_a_share_of_the_sft_steps():
    spec = get_model_spec("mini-llava-s-sft25")
    base = get_model_spec("mini-llava-s")
    assert (spec.graded_from, spec.sft_budget, spec.source) == ("mini-llava-s", 0.25, "mini-llava-s-sft25")
    assert (spec.family, spec.lora, spec.training, spec.stands_for) == (base.family, base.lora, base.training,
                                                                         base.stands_for)
    assert spec.display_name == "mini-LLaVA-S, SFT 25%"
    assert base.graded_from is None and base.sft_budget == 1.0
    assert is_model_name("mini-instructblip-sft5") and "mini-llava-s-sft25" not in model_names()
    assert get_model_spec("mini-llava-m-sft300").sft_budget == 3.0  # more steps than the world's own


@pytest.mark.parametrize("name", ["llava-1.5-7b-sft25", "mini-llava-s-sft0", "mini-llava-s-sft100", "mini-llava-s-sft1000",
                                  "mini-llava-s-sft05", "mini-llava-x-sft25", "mini-llava-s-sft"])
def test_only_a_mini_model_at_a_whole_percentage_other_than_100_is_graded(name):
    assert not is_model_name(name)
    with pytest.raises(UserError, match="unknown model"):
        get_model_spec(name)


def test_graded_names_are_whole_percentages():
    assert graded_name("mini-llava-m", 0.1) == "mini-llava-m-sft10" and graded_name("mini-llava-m", 3) == "mini-llava-m-sft300"
    for budget in (0.0, 1.0, 0.125, 10.0):
        with pytest.raises(ValueError, match="whole percentage from 1% to 999%, other than 100%"):
            graded_name("mini-llava-m", budget)
