"""How many processes train a run, chosen in one place for every launcher: one per GPU the step
sees unless the profile names a count, the model's global batch split over them, a batch they
cannot divide refused before anything starts."""

import dataclasses
import types
from pathlib import Path

import pytest
import torch

from aspo_repro.errors import UserError
from aspo_repro.orchestration import prepare
from aspo_repro.orchestration.launch import StepRecords, steps_to_submit
from aspo_repro.orchestration.profiles import TrainSettings, load_profile
from aspo_repro.orchestration.slurm import build_jobs
from aspo_repro.orchestration.stages import Invocation

LLAVA_ASPO = ("train", "llava-1.5-7b", "aspo", 0)


def gpus(monkeypatch, count: int, memory_gib: float = 80) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: types.SimpleNamespace(total_memory=int(memory_gib * 2**30)))


def paper_stages(tmp_path, **train):
    reproduction = prepare(["1"], "paper", results_root=tmp_path / "r", work_dir=tmp_path / "w", log=lambda *a: None)
    stages = reproduction.stages
    if train:
        profile = stages.ws.profile
        stages.ws = dataclasses.replace(stages.ws, profile=dataclasses.replace(
            profile, train=dataclasses.replace(profile.train, **train)))
    return reproduction.plan, stages


def training_step(plan, key=LLAVA_ASPO):
    return next(step for step in plan.steps if step.key == key)


def local_training(monkeypatch, stages, step) -> dict:
    """What the sequential runner does with ``step``: the processes it launches, or the run it trains
    in this one; a step it refuses raises its UserError."""
    import aspo_repro.orchestration.launch as launch
    import aspo_repro.training as training
    from aspo_repro.orchestration import runner

    seen = {}
    monkeypatch.setattr(launch, "run_under_accelerate",
                        lambda stages, step, invocation, processes, log: seen.update(
                            processes=processes.count, config=Path(processes.accelerate_config).name))
    monkeypatch.setattr(training, "train", lambda *args, **kwargs: seen.update(processes=1, config=None))
    monkeypatch.setattr(stages, "training_asked", lambda run: {})
    outcome = runner.run_step_here(step, stages, Invocation())
    if outcome.status == runner.FAILED:
        raise UserError(outcome.error)
    return seen


@pytest.mark.parametrize(("visible", "expected"), [(8, {"processes": 8, "config": "ddp_8gpu.yaml"}),
                                                   (1, {"processes": 1, "config": None}),
                                                   (0, {"processes": 1, "config": None})])
def test_the_paper_profile_trains_with_one_process_per_visible_gpu(tmp_path, monkeypatch, visible, expected):
    gpus(monkeypatch, visible)
    plan, stages = paper_stages(tmp_path)
    assert local_training(monkeypatch, stages, training_step(plan)) == expected


@pytest.mark.parametrize(("memory_gib", "config"), [(80, "zero2_8gpu.yaml"), (141, "ddp_8gpu.yaml")])
def test_the_memory_plan_picks_the_sharding_for_the_gpus_seen(tmp_path, monkeypatch, memory_gib, config):
    """LLaVA-1.5-13B needs ~115 GiB per GPU under DDP: ZeRO-2 on 80 GB GPUs, DDP on 141 GB ones."""
    gpus(monkeypatch, 8, memory_gib)
    plan, stages = paper_stages(tmp_path)
    step = training_step(plan, ("train", "llava-1.5-13b", "aspo", 0))
    assert local_training(monkeypatch, stages, step) == {"processes": 8, "config": config}


def test_a_count_the_profile_names_wins_over_the_gpus(tmp_path, monkeypatch):
    gpus(monkeypatch, 8)
    plan, stages = paper_stages(tmp_path, processes=4)
    assert local_training(monkeypatch, stages, training_step(plan)) == {"processes": 4, "config": "ddp_8gpu.yaml"}


def test_a_global_batch_the_gpus_cannot_divide_is_refused_before_launch(tmp_path, monkeypatch):
    gpus(monkeypatch, 3)  # 80 pairs per step over 3 processes
    plan, stages = paper_stages(tmp_path)
    with pytest.raises(UserError, match="global batch of 80 pairs cannot be split over 3 processes"):
        local_training(monkeypatch, stages, training_step(plan))


@pytest.mark.parametrize("profile", ["mini", "mini-smoke"])
def test_mini_profiles_train_in_one_process_whatever_the_gpus(monkeypatch, profile):
    gpus(monkeypatch, 8)
    assert load_profile(profile).train.processes_for(8) == 1


def test_several_processes_per_gpu_need_an_accelerate_config():
    with pytest.raises(UserError, match="needs train.accelerate_config"):
        TrainSettings().processes_for(2)
    assert TrainSettings().processes_for(0) == 1


def slurm_train_job(tmp_path, **train):
    plan, stages = paper_stages(tmp_path, **train)
    states = {step.key: "missing" for step in plan.steps}
    jobs = build_jobs(plan, stages, steps_to_submit(plan, states), StepRecords(tmp_path / "w"))
    return next(job for job in jobs if job.step.key == LLAVA_ASPO)


def test_slurm_asks_for_the_gpus_the_local_launcher_would_use(tmp_path):
    job = slurm_train_job(tmp_path)  # the train step's gpus: 8, one process each
    assert job.parameters["gpus_per_node"] == 8 and job.command[5:7] == ["--num_processes", "8"]
    job = slurm_train_job(tmp_path, processes=2)
    assert job.parameters["gpus_per_node"] == 2 and job.command[5:7] == ["--num_processes", "2"]
    assert job.command[4].endswith("ddp_8gpu.yaml")
    with pytest.raises(UserError, match="cannot be split over 3 processes"):
        slurm_train_job(tmp_path, processes=3)


@pytest.mark.parametrize(("recorded_accumulation", "done"), [(1, True), (2, False)])
def test_a_mini_run_asked_before_accumulation_was_derived_is_still_done(tmp_path, recorded_accumulation, done):
    """Its request record named gradient_accumulation_steps: 1, which the split now derives."""
    from aspo_repro.storage import atomic_write_json

    reproduction = prepare(["1"], "mini-smoke", results_root=tmp_path / "r", work_dir=tmp_path / "w",
                           models=["mini-llava-s"], log=lambda *a: None)
    stages = reproduction.stages
    step = next(step for step in reproduction.plan.steps if step.kind.spans_processes)
    asked = stages.training_asked(step.run)
    assert "gradient_accumulation_steps" not in asked["config"]
    asked["config"]["gradient_accumulation_steps"] = recorded_accumulation
    atomic_write_json(stages.ws.train_dir(step.run) / "asked.json", asked)
    atomic_write_json(stages.ws.train_dir(step.run) / "run.json", {"status": "complete"})
    assert stages.is_done(step) is done


@pytest.mark.parametrize(("record", "done"), [
    ({"config": {"per_device_batch_size": 10, "gradient_accumulation_steps": 1}, "processes": {"count": 1}}, False),
    ({"config": {"per_device_batch_size": 10, "gradient_accumulation_steps": 1}, "processes": {"count": 8}}, True),
    ({"batch": {"global_batch_size": 80, "processes": 1}}, True),
    ({"batch": {"global_batch_size": 10, "processes": 1}}, False),
])
def test_a_paper_run_of_another_global_batch_is_not_done(tmp_path, record, done):
    """A LLaVA-1.5 run trained 10 pairs per step (one process, before the global batch) is trained again."""
    from aspo_repro.storage import atomic_write_json

    plan, stages = paper_stages(tmp_path)
    step = training_step(plan)
    atomic_write_json(stages.ws.train_dir(step.run) / "run.json", {"status": "complete", **record})
    assert stages.is_done(step) is done
