"""A method name's options reach training typed as ``get_method`` takes them (``aspo[norm=none]``)."""

from __future__ import annotations

import pytest

from aspo_repro.methods import get_method
from aspo_repro.orchestration.plan import Step
from aspo_repro.orchestration.stages import Invocation
from aspo_repro.results import RunKey, method_options


@pytest.mark.parametrize("name, expected", [
    ("aspo", ("aspo", {})),
    ("aspo[alpha=0.25]", ("aspo", {"alpha": 0.25})),
    ("aspo[norm=none]", ("aspo", {"norm": "none"})),
    ("aspo[alpha=1,norm=weight_mean]", ("aspo", {"alpha": 1.0, "norm": "weight_mean"})),
])
def test_method_options_are_typed(name, expected):
    assert method_options(name) == expected


def test_the_train_step_passes_text_options_through(monkeypatch, tmp_path):
    import aspo_repro.training as training
    from aspo_repro.orchestration import prepare

    seen = []
    monkeypatch.setattr(training, "train", lambda method, model, prefs, out, config, **kw: seen.append((method, config)))
    stages = prepare(["1"], "mini-smoke", work_dir=tmp_path, results_root=tmp_path).stages
    monkeypatch.setattr(stages, "world", lambda: None)
    run = RunKey("mini", "mini-llava-s", "aspo[norm=none]")
    stages.execute(Step("train", ("train", run), run=run), Invocation())
    (method, config), = seen
    assert method == "aspo" and config.method_options == {"norm": "none"}
    assert get_method(method, **config.method_options).norm == "none"
