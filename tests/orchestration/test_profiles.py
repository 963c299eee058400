"""A profile's prefs: and evaluate: sections are those stages' own configs; its paths are anchored."""

from __future__ import annotations

from aspo_repro.data.pipeline import PrefsConfig
from aspo_repro.evaluation.runner import EvalSettings
from aspo_repro.orchestration.profiles import REPO_ROOT, load_profile, profile_names


def test_every_profile_loads_into_the_stage_configs():
    for name in profile_names():
        profile = load_profile(name)
        assert isinstance(profile.prefs, PrefsConfig) and isinstance(profile.evaluate, EvalSettings)
        assert profile.prefs.model == "" and profile.evaluate.run is None  # each job sets them
        assert profile.train.train_config(1).seed == profile.train.seed + 1
        assert profile.work_dir.is_absolute() and profile.results_root.is_absolute()


def test_the_paper_profile_names_its_files_relative_to_the_repository():
    paper = load_profile("paper")
    assert paper.prefs.instructions == str(REPO_ROOT / "data/llava_instruct_150k.json")
    assert paper.prefs.image_dir == REPO_ROOT / "data/coco/train2017"
    assert paper.evaluate.shr_data == REPO_ROOT / "data/shr/shr_docs.jsonl"
    assert [b.name for b in paper.evaluate.benchmarks][:2] == ["mmvet", "mmbench_dev"]
    assert load_profile("mini").prefs.instructions == "mini"


def test_a_profile_file_path_works_from_anywhere(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text("results_profile: mini\nprefs: {limit: 3}\nevaluate: {benchmarks: 'mini_pope,mini_gqa'}\n")
    monkeypatch.chdir(tmp_path)
    profile = load_profile(str(path))
    assert (profile.name, profile.source, profile.work_dir) == ("mine", path.resolve(), REPO_ROOT / "runs/mine")
    assert profile.prefs.limit == 3 and [b.name for b in profile.evaluate.benchmarks] == ["mini_pope", "mini_gqa"]


def test_sharding_is_one_config_or_the_plans_pick_not_both():
    import pytest

    from aspo_repro.errors import UserError
    from aspo_repro.orchestration.profiles import TrainSettings

    assert load_profile("paper").train.sharding_is_planned
    with pytest.raises(UserError, match="not both"):
        TrainSettings(accelerate_config="a.yaml", accelerate_configs={"ddp": "a.yaml"})
    with pytest.raises(UserError, match="the keys are shardings, some of ddp, zero2, zero3; got zero4"):
        TrainSettings(accelerate_configs={"zero4": "a.yaml"})


def test_slurm_time_limits_come_from_each_models_estimate_with_a_margin():
    import pytest

    from aspo_repro.errors import UserError
    from aspo_repro.orchestration.profiles import SlurmSettings, StepResources

    profile = load_profile("paper")
    slurm = profile.launch.slurm
    assert slurm.time_limit_min("evaluate", profile.estimate("evaluate", "llava-1.5-13b")) == 810  # 9 h x 1.5
    assert slurm.time_limit_min("evaluate", profile.estimate("evaluate", "llava-1.5-7b")) == 450
    assert slurm.time_limit_min("render", profile.estimate("render", None)) == 15  # the default's time_min
    unestimated = SlurmSettings(steps={"train": StepResources(time_min=None)})
    with pytest.raises(UserError, match="time_min is not set and the profile has no estimate for train steps"):
        unestimated.time_limit_min("train", 0.0)


def test_a_profile_s_methods_restrict_what_it_runs(tmp_path):
    """mini-smoke runs the methods of its regression reference; a table row of another method is not run."""
    import pytest

    from aspo_repro.errors import UserError
    from aspo_repro.orchestration import plan_tables

    smoke = plan_tables(["5"], load_profile("mini-smoke"), models=["mini-llava-s"])
    assert {run.method for run in smoke.runs} == {"base", "dpo", "aspo-s", "aspo-p", "aspo", "aspo-oracle"}
    mini = plan_tables(["5"], load_profile("mini"), models=["mini-llava-s"])
    assert {run.method for run in mini.runs} - {run.method for run in smoke.runs} == {
        "aspo-s[scorer=judge-trained]", "aspo[scorer=judge-trained]"}
    path = tmp_path / "bad.yaml"
    path.write_text("results_profile: mini\nmethods: [dpo, aspo-x]\n")
    with pytest.raises(UserError, match="aspo-x"):
        load_profile(str(path))
