"""The train step of ``reproduce`` trains a method named with options (``aspo[norm=none]``) for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from train_helpers import FAST

from aspo_repro.orchestration import prepare
from aspo_repro.orchestration.plan import Step
from aspo_repro.orchestration.stages import Invocation
from aspo_repro.orchestration.step_kinds import TRAIN
from aspo_repro.results import RunKey


class TinyModels:
    """Where the profile's model names resolve: every name to the tiny test model."""

    def __init__(self, directory: Path):
        self.directory = directory

    def model_dir(self, name: str) -> Path:
        return self.directory


def test_aspo_with_norm_none_trains_through_the_train_step(tmp_path, llava_dir, prefs_dir):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({
        "results_profile": "mini", "world": {"seed": 0, "size": "tiny"},
        "train": {"config": "cpu", "overrides": {**FAST, "max_steps": 2}},
    }))
    stages = prepare(["1"], str(profile), work_dir=tmp_path / "work", results_root=tmp_path / "results").stages
    stages.models = lambda: TinyModels(Path(llava_dir))
    run = RunKey("mini", "mini-llava-s", "aspo[norm=none]")
    shutil.copytree(prefs_dir, stages.ws.prefs_dir(run.model))

    stages.execute(Step(TRAIN, ("train", run), run=run), Invocation())

    step = Step(TRAIN, ("train", run), run=run)
    assert stages.is_done(step)
    record = json.loads((stages.ws.train_dir(run) / "run.json").read_text())
    assert record["status"] == "complete" and record["steps"] == 2
    assert record["method"]["name"] == "aspo[norm=none]" and record["method"]["norm"] == "none"
    assert (stages.ws.train_dir(run) / "merged" / "config.json").is_file()


def test_a_finished_run_asked_otherwise_is_not_reused(tmp_path, llava_dir, prefs_dir):
    """Changing the profile's training settings must not put the old run's scores in the tables:
    the step is no longer done, and training it again names the directory instead of overwriting."""
    import pytest

    from aspo_repro.errors import UserError

    def stages_with(max_steps: int):
        profile = tmp_path / f"tiny-{max_steps}.yaml"
        profile.write_text(yaml.safe_dump({
            "results_profile": "mini", "world": {"seed": 0, "size": "tiny"},
            "train": {"config": "cpu", "overrides": {**FAST, "max_steps": max_steps}},
        }))
        stages = prepare(["1"], str(profile), work_dir=tmp_path / "work", results_root=tmp_path / "results").stages
        stages.models = lambda: TinyModels(Path(llava_dir))
        return stages

    run = RunKey("mini", "mini-llava-s", "dpo")
    step = Step(TRAIN, ("train", run), run=run)
    first = stages_with(2)
    shutil.copytree(prefs_dir, first.ws.prefs_dir(run.model))
    first.execute(step, Invocation())
    assert first.is_done(step) and stages_with(2).is_done(step)

    changed = stages_with(3)
    assert not changed.is_done(step)
    with pytest.raises(UserError, match="holds a finished run with other settings"):
        changed.execute(step, Invocation())
    assert json.loads((first.ws.train_dir(run) / "run.json").read_text())["steps"] == 2  # left as it was
