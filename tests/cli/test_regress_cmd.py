"""regress's decision: a candidate is checked within its own reference world, or fails saying how to make one."""

import pytest

from aspo_repro.cli import main
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey


def _world(root, base, seeds):
    """A base model and DPO and ASPO runs per seed, ASPO 3 points below DPO on mini-SHR."""
    EvalResult(RunKey("mini", "mini-llava-s", "base", 0), {"mini_shr": BenchmarkScore(base)}).save_to(root)
    for seed in seeds:
        jitter = 0.1 * (seed % 3)
        for method, value in (("dpo", base - 5 + jitter), ("aspo", base - 8 + jitter)):
            EvalResult(RunKey("mini", "mini-llava-s", method, seed), {"mini_shr": BenchmarkScore(value)}).save_to(root)


@pytest.fixture
def reference(tmp_path):
    for name, base in (("world0", 50.0), ("world1", 53.0), ("world2", 47.0)):
        _world(tmp_path / "ref" / name, base, range(6))
    return tmp_path / "ref"


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "regression.yaml"
    path.write_text("false_alarm_rate: 0.05\nfloor: {default: 0.5}\n"
                    "primary:\n  - {method: aspo, versus: dpo, benchmarks: [mini_shr]}\n")
    return path


def _regress(reference, candidate, settings, *extra):
    return main(["regress", "--reference", str(reference), "--candidate", str(candidate),
                 "--settings", str(settings), *extra])


def test_a_candidate_of_a_reference_world_is_checked_within_it(reference, settings, tmp_path, capsys):
    _world(tmp_path / "same", 50.0, range(3))
    assert _regress(reference, tmp_path / "same", settings) == 0
    assert "same world: the candidate's base models answer every item as reference world0's" in capsys.readouterr().out


def test_a_candidate_of_no_reference_world_fails_naming_how_to_make_its_own(reference, settings, tmp_path, capsys):
    _world(tmp_path / "other", 51.0, range(3))  # another machine kind's world: nothing changed but the base model
    assert _regress(reference, tmp_path / "other", settings) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("fail: no reference world's base models answer as the candidate's")
    assert "make_smoke_references.sh results/smoke 0 9 KIND" in last
    assert _regress(reference, tmp_path / "other", settings, "--across-worlds") == 0


def test_another_machine_kind_s_own_world_in_the_reference_is_found(reference, settings, tmp_path, capsys):
    _world(tmp_path / "other", 51.0, range(3))
    _world(reference / "world0-epyc", 51.0, range(3, 9))
    assert _regress(reference, tmp_path / "other", settings) == 0
    assert "as reference world0-epyc's" in capsys.readouterr().out
