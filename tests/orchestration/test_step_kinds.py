"""Step kinds answer for themselves: the registry, and no comparison of a kind's name elsewhere."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "aspo_repro"
KIND_NAMES = "world|prefs|train|evaluate|render"
# a step kind's name compared, or used to pick steps: kind == "train", step.kind.name != 'render',
# kind in ("world", "render"), of_kind("evaluate")
NAME_COMPARISON = re.compile(rf"""(\bkind(\.name)?\s*(==|!=|\bin\b|\bnot in\b)\s*[(\[]?\s*["']({KIND_NAMES})["'])"""
                             rf"""|(of_kind\(\s*["']({KIND_NAMES})["'])""")


def test_every_step_kind_answers_for_itself():
    """Each kind in the registry under its own name, with a label and an action of its own."""
    from aspo_repro.orchestration.step_kinds import STEP_KINDS, StepKind

    assert list(STEP_KINDS) == ["world", "sft", "prefs", "diagnose", "scorer", "train", "evaluate", "render"]
    for name, kind in STEP_KINDS.items():
        assert kind.name == name
        assert type(kind).run is not StepKind.run and type(kind).label is not StepKind.label, name
    assert [kind.name for kind in STEP_KINDS.values() if kind.runs_after_failed_needs] == ["render"]
    assert [kind.name for kind in STEP_KINDS.values() if kind.spans_processes] == ["train"]
    assert [kind.name for kind in STEP_KINDS.values() if not kind.remakes_dependents] == [
        "world", "sft", "diagnose", "scorer"]
    from aspo_repro.orchestration.profiles import _default_step_resources

    assert set(_default_step_resources()) == set(STEP_KINDS)  # a Slurm job of any kind has resources


def test_no_module_compares_a_step_kinds_name():
    found = [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name != "step_kinds.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if NAME_COMPARISON.search(line)]
    assert found == []


def test_the_pattern_finds_a_comparison():
    for line in ('if step.kind == "train":', "kind in ('world', 'render')", 'plan.of_kind("evaluate")',
                 'step.kind.name != "render"'):
        assert NAME_COMPARISON.search(line), line
    assert not NAME_COMPARISON.search('if claim.kind == "count":')


def test_mini_data_scored_by_another_world_scorer_is_not_taken_as_done():
    """Preference data an older harness scored by the judge-trained scorer (its manifest names no scorer,
    or another) is not reused by a profile whose data the caption scorer scores, and the reverse."""
    from aspo_repro.orchestration import load_profile
    from aspo_repro.orchestration.step_kinds import _scored_by_data_scorer

    mini, smoke, paper = load_profile("mini"), load_profile("mini-smoke"), load_profile("paper")
    assert (mini.world_data_scorer, smoke.world_data_scorer, paper.world_data_scorer) == (
        "captions", "judge-trained", None)
    scored = {name: {"settings": {"data_scorer": name}} for name in ("captions", "judge-trained")}
    assert _scored_by_data_scorer(scored["captions"], mini) and not _scored_by_data_scorer(scored["judge-trained"], mini)
    assert _scored_by_data_scorer(scored["judge-trained"], smoke) and not _scored_by_data_scorer(scored["captions"], smoke)
    assert not _scored_by_data_scorer({"settings": {}}, mini)  # scored before the setting existed
    assert _scored_by_data_scorer({"settings": {}}, paper)  # no world: the profile's CLIP


def test_a_diagnosis_is_done_once_it_measured_every_scorer_its_step_names(tmp_path):
    """Made for Table 1 (the data's weights only), it is made again for Table 5, whose rows score the chosen
    sentences again with the judge-trained scorer; made for Table 5, it serves Table 1 as it is."""
    import json
    from types import SimpleNamespace

    from aspo_repro.orchestration.plan import Step, diagnose_key
    from aspo_repro.orchestration.step_kinds import DIAGNOSE

    path = tmp_path / "prefs_diagnosis.json"
    stages = SimpleNamespace(ws=SimpleNamespace(diagnosis_path=lambda model: path), warn_once=print)
    for_table1 = Step(DIAGNOSE, diagnose_key("mini-llava-s"), model="mini-llava-s")
    for_table5 = Step(DIAGNOSE, diagnose_key("mini-llava-s"), model="mini-llava-s", rescored_by=("judge-trained",))
    assert not DIAGNOSE.is_done(stages, for_table1)
    path.write_text(json.dumps({"pairs": 3, "weights": {}, "weights_by_scorer": {}}))
    assert DIAGNOSE.is_done(stages, for_table1) and not DIAGNOSE.is_done(stages, for_table5)
    path.write_text(json.dumps({"pairs": 3, "weights": {}, "weights_by_scorer": {"judge-trained": {}}}))
    assert DIAGNOSE.is_done(stages, for_table1) and DIAGNOSE.is_done(stages, for_table5)


def test_the_world_step_finds_its_work_done_only_where_every_stage_is_built(tiny_world, tmp_path):
    """It always runs (never done), but the plan's estimate asks whether it would only reuse the world."""
    import dataclasses
    import shutil

    from aspo_repro.orchestration import load_profile, plan_tables
    from aspo_repro.orchestration.profiles import WorldSettings
    from aspo_repro.orchestration.stages import Stages, Workspace

    cache_dir = tmp_path / "cache"
    copied = shutil.copytree(tiny_world.root, cache_dir / "worlds" / tiny_world.root.name)
    profile = dataclasses.replace(load_profile("mini"), world=WorldSettings(size="tiny"))
    stages = Stages(Workspace(profile, tmp_path / "results", tmp_path / "tables", tmp_path / "work", cache_dir),
                    log=lambda message: None)
    world_step = plan_tables(["1"], profile, models=["mini-llava-s"]).steps[0]
    assert world_step.kind.finds_work_done(stages, world_step) and not stages.is_done(world_step)
    model_config = copied / tiny_world.model_dir("mini-llava-s").relative_to(tiny_world.root) / "config.json"
    model_config.write_text(model_config.read_text() + " ")  # a stage's file changed: the stage is not intact
    assert not world_step.kind.finds_work_done(stages, world_step)


def test_the_world_step_makes_the_caption_scorer_and_graded_models_beside_the_world(tiny_world, tmp_path):
    """The world step of a base-quality plan trains what its scorer and sft steps need while the world is
    built (here reused); those steps then find their work done."""
    import dataclasses
    import shutil

    from aspo_repro.miniworld.caption_clip import caption_scorer_built
    from aspo_repro.miniworld.graded import graded_model_built
    from aspo_repro.orchestration import load_profile, plan_tables
    from aspo_repro.orchestration.profiles import WorldSettings
    from aspo_repro.orchestration.stages import Invocation, Stages, Workspace

    cache_dir = tmp_path / "cache"
    shutil.copytree(tiny_world.root, cache_dir / "worlds" / tiny_world.root.name)
    profile = dataclasses.replace(load_profile("mini"), world=WorldSettings(size="tiny"))
    stages = Stages(Workspace(profile, tmp_path / "results", tmp_path / "tables", tmp_path / "work", cache_dir),
                    log=lambda message: None)
    plan = plan_tables(["base-quality"], profile, models=["mini-llava-s"])
    world_step, beside = plan.steps[0], plan.steps[0].beside
    assert {made.kind.name for made in beside} == {"scorer", "sft"} and not any(map(stages.is_done, beside))
    stages.execute(world_step, Invocation())
    assert all(map(stages.is_done, beside))
    world = stages.world()
    assert caption_scorer_built(world) and graded_model_built(world, "mini-llava-s-sft300")


def test_the_world_steps_estimate_is_the_announced_cold_build_unless_the_profile_gives_one():
    """One source for a mini world's cold build: obtain's announcement, which the mini profiles' plans use."""
    import dataclasses

    from aspo_repro.miniworld.obtain import COLD_BUILD_SECONDS
    from aspo_repro.orchestration import load_profile
    from aspo_repro.orchestration.plan import Step
    from aspo_repro.orchestration.step_kinds import WORLD

    world = Step(WORLD, ("world",))
    for name in ("mini", "mini-smoke"):
        profile = load_profile(name)
        assert "world" not in profile.estimates
        assert WORLD.estimate(profile, world) == COLD_BUILD_SECONDS[profile.world.size] > 0
        assert WORLD.estimate(dataclasses.replace(profile, estimates={"world": 7.0}), world) == 7.0
    assert WORLD.estimate(load_profile("paper"), world) == 0.0  # no world to build
    rehearsal = load_profile("paper-rehearsal")  # its stand-ins, as its profile estimates them
    assert WORLD.estimate(rehearsal, world) == rehearsal.estimates["world"]
