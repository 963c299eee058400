"""The learning-rate sweep: a spec of runs method[learning_rate=v], a figure, and the rule's choice."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey
from aspo_repro.tables import render_table
from aspo_repro.tables.specs import load_spec

RATES = load_spec("lr-sweep", "mini").file.values


def held_out(drift: float) -> dict:
    return {"training": {"held_out": {"pairs": 70, "chosen_drift_per_token": {"mean": drift, "ci95": [drift - 0.002, drift + 0.002]},
                                      "reward_accuracy": {"mean": 0.8, "ci95": [0.7, 0.9]}}}}


def save(root, model, method, shr, drift=None):
    extra = held_out(drift) if drift is not None else {}
    EvalResult(RunKey("mini", model, method, 0), {"mini_shr": BenchmarkScore(shr)}, extra=extra).save_to(root)


def test_the_sweep_needs_every_method_at_every_rate_and_each_base():
    spec = load_spec("lr-sweep", "mini")
    assert spec.file.values[0] == 1e-05 and 5e-05 in spec.file.values and spec.file.series == ("dpo", "aspo")
    runs = spec.runs_needed(models=["mini-llava-s"])
    assert runs[0].method == "base" and len(runs) == 1 + 2 * len(RATES)
    assert "dpo[learning_rate=5e-05]" in {run.method for run in runs}
    with pytest.raises(UserError, match="no `profiles: paper:` section"):
        load_spec("lr-sweep", "paper")


def test_the_rule_picks_the_largest_rate_that_moves_within_the_bound(tmp_path):
    """Drift by rate: within [0.005, 0.05] nats per token at 5e-05 and 1e-04 only: the rule picks 1e-04. A
    model whose policy never moves enough gets no rate, and the file says why."""
    root = tmp_path / "results"
    drifts = {rate: (-0.01 if rate == 5e-05 else -0.04 if rate == 1e-04 else 0.001 if rate < 5e-05 else -0.2 - rate)
              for rate in RATES}
    save(root, "mini-llava-s", "base", 70.0)
    save(root, "mini-instructblip", "base", 77.0)
    for rate, drift in drifts.items():
        for series in ("dpo", "aspo"):
            method = load_spec("lr-sweep", "mini").method(series, rate)
            save(root, "mini-llava-s", method, 71.0, drift)
            save(root, "mini-instructblip", method, 77.0, 0.001)
    paths = render_table("lr-sweep", "mini", root, tmp_path / "tables")
    assert sorted(p.name for p in paths) == ["lr-sweep.md", "lr-sweep.pdf", "lr-sweep.png"]
    text = (tmp_path / "tables" / "lr-sweep.md").read_text()
    assert "- mini-llava-s: learning_rate 0.0001 (largest learning_rate with 0.005 <= |drift| <= 0.05" in text
    assert "- mini-instructblip: none (no value moves the held-out answers by 0.005 to 0.05 nats per token)" in text
    assert "| mini-llava-s | dpo | 5e-05 | -0.010 ± 0.002 | 71.00 |" in text
    assert "- mini-llava-m: none (learning_rate 1e-05 has no held-out measurement yet)" in text


def test_the_provenance_counts_every_seed_the_points_were_made_of(tmp_path):
    root = tmp_path / "results"
    save(root, "mini-llava-s", "base", 70.0)
    method = load_spec("lr-sweep", "mini").method("dpo", RATES[0])
    for seed in range(3):
        EvalResult(RunKey("mini", "mini-llava-s", method, seed), {"mini_shr": BenchmarkScore(71.0)}).save_to(root)
    render_table("lr-sweep", "mini", root, tmp_path / "tables")
    assert "Provenance: 4 run(s) from" in (tmp_path / "tables" / "lr-sweep.md").read_text()
    render_table("lr-sweep", "mini", root, tmp_path / "two", seeds=2)
    assert "Provenance: 3 run(s) from" in (tmp_path / "two" / "lr-sweep.md").read_text()
