"""A method name's options are typed as ``get_method`` takes them (``aspo[norm=none]``); that they reach a
real training through the train step: tests/training/test_reproduce_train_step.py."""

from __future__ import annotations

import pytest

from aspo_repro.results import method_options


@pytest.mark.parametrize("name, expected", [
    ("aspo", ("aspo", {})),
    ("aspo[alpha=0.25]", ("aspo", {"alpha": 0.25})),
    ("aspo[norm=none]", ("aspo", {"norm": "none"})),
    ("aspo[alpha=1,norm=weight_mean]", ("aspo", {"alpha": 1.0, "norm": "weight_mean"})),
])
def test_method_options_are_typed(name, expected):
    assert method_options(name) == expected
