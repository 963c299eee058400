"""One device choice on every path: ``auto`` is CUDA when present, a bad name one clear line."""

from __future__ import annotations

import pytest
import torch

from aspo_repro.devices import resolve_device
from aspo_repro.errors import UserError
from aspo_repro.orchestration.profiles import REPO_ROOT


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == "cpu"


def test_auto_is_cuda_with_one(two_gpus):
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"


@pytest.mark.parametrize("name, message", [
    ("tpu", "unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N, mps"),
    ("cuda:", "unknown device"),
    ("CPU", "unknown device"),
])
def test_a_bad_name_says_what_is_allowed(name, message):
    with pytest.raises(UserError, match=message):
        resolve_device(name)


def test_cuda_on_a_machine_without_one_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_a_gpu_index_past_the_last_is_refused(two_gpus):
    with pytest.raises(UserError, match=r"has 2 CUDA GPU\(s\), cuda:0..cuda:1"):
        resolve_device("cuda:2")


def test_reproduce_evaluates_on_cuda_when_the_machine_has_it(two_gpus, monkeypatch, tmp_path):
    """The evaluation step of ``reproduce`` (the paper profile) gets the best device, not the CPU."""
    import aspo_repro.evaluation.runner as runner
    from aspo_repro.orchestration import prepare

    seen = []
    monkeypatch.setattr(runner, "evaluate", lambda settings, **kwargs: seen.append(settings))
    reproduction = prepare(["1"], "paper", models=["llava-1.5-7b"], work_dir=tmp_path, results_root=tmp_path)
    step = next(s for s in reproduction.plan.steps if s.kind.name == "evaluate" and not s.run.is_base)
    reproduction.stages.execute(step, {})
    assert [settings.device for settings in seen] == ["cuda"]
    assert seen[0].shr_data == REPO_ROOT / "data/shr/shr_docs.jsonl"  # the profile's SHR documents reach it
