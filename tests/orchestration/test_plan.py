"""The plan and the runner's bookkeeping, with stages faked (no models)."""

import json

import pytest

from aspo_repro.errors import UserError
from aspo_repro.miniworld.obtain import COLD_BUILD_SECONDS
from aspo_repro.orchestration import load_profile, plan_tables, profile_names
from aspo_repro.orchestration.runner import (
    BLOCKED,
    FAILED,
    RAN,
    REUSED,
    describe_plan,
    estimate_seconds,
    execute,
    format_seconds,
)
from aspo_repro.orchestration.stages import Invocation, Workspace
from aspo_repro.orchestration.step_kinds import (
    DIAGNOSE,
    EVALUATE,
    PREFS,
    RENDER,
    STEP_KINDS,
    TRAIN,
    WORLD,
)
from aspo_repro.results import RunKey


def test_profiles_are_listed_and_unknown_ones_refused():
    assert {"mini", "mini-smoke", "paper"} <= set(profile_names())
    with pytest.raises(UserError, match="unknown profile 'tiny'; known profiles: mini, mini-smoke, paper"):
        load_profile("tiny")


def test_table1_plan_orders_every_stage_after_what_it_needs():
    plan = plan_tables(["1"], load_profile("mini"))
    keys = [step.key for step in plan.steps]
    assert keys[0] == ("world",)
    assert keys[-1] == ("render", "1")
    for position, step in enumerate(plan.steps):
        for need in step.needs:
            assert keys.index(need) < position
    assert len(plan.of_kind(PREFS)) == 3  # one per base model, shared by its methods
    assert len(plan.of_kind(TRAIN)) == 6  # dpo and aspo on three models
    assert {(r.model, r.method) for r in plan.runs} == {
        (m, x) for m in ("mini-instructblip", "mini-llava-s", "mini-llava-m") for x in ("base", "dpo", "aspo")
    }
    # its data's scorer only: the judge-trained one (a stage of the world) scores no run of Table 1
    assert [step.key for step in plan.steps if step.key[0] == "scorer"] == [("scorer", "captions")]


def test_a_steps_critical_path_is_its_time_and_the_longest_chain_of_what_needs_it():
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"], seeds=1)
    seconds = {"world": 100.0, "scorer": 0.0, "prefs": 20.0, "diagnose": 5.0, "train": 10.0, "evaluate": 3.0,
               "render": 1.0}
    chains = plan.critical_paths(lambda step: seconds[step.kind.name])
    assert chains[("render", "1")] == 1.0
    assert chains[("evaluate", "mini-llava-s", "base", 0)] == 3.0 + 1.0
    assert chains[("train", "mini-llava-s", "dpo", 0)] == 10.0 + 3.0 + 1.0
    assert chains[("diagnose", "mini-llava-s")] == 5.0 + 1.0
    assert chains[("prefs", "mini-llava-s")] == 20.0 + 10.0 + 3.0 + 1.0  # its training, not its diagnosis
    assert chains[("world",)] == 100.0 + chains[("prefs", "mini-llava-s")]
    assert chains[("scorer", "captions")] == 0.0 + chains[("prefs", "mini-llava-s")]


def test_a_plans_time_at_once_is_the_simulated_schedule_of_run_parallel():
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"], seeds=1)
    seconds = {"world": 100.0, "scorer": 0.0, "prefs": 20.0, "diagnose": 5.0, "train": 10.0, "evaluate": 3.0,
               "render": 1.0}
    time = lambda step: seconds[step.kind.name]  # noqa: E731
    assert plan.makespan(time, 1) == sum(time(step) for step in plan.steps) == 155.0
    # two at once: the world alone (100); prefs beside the base model's evaluation (120); the two trainings
    # (130); the diagnosis beside DPO's evaluation, then ASPO's (136); the render (137)
    assert plan.makespan(time, 2) == 137.0
    # three: the diagnosis beside the trainings (130), the two evaluations (133), the render
    assert plan.makespan(time, 3) == plan.makespan(time, 10) == 134.0
    # what is done takes no time and no slot: the two trainings at once (10), the diagnosis beside DPO's
    # evaluation, then ASPO's (16), the base model's after the diagnosis (18), the render (19)
    done = {("world",), ("prefs", "mini-llava-s")}
    assert plan.makespan(lambda step: 0.0 if step.key in done else time(step), 2) == 19.0


def test_the_plans_estimate_counts_the_steps_at_once(tmp_path):
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"], seeds=1)
    stages = FakeStages(tmp_path)
    in_turn, at_once = estimate_seconds(plan, stages, 1), estimate_seconds(plan, stages, 2)
    assert in_turn[0] == at_once[0] == len(plan.steps)
    assert at_once[1] < in_turn[1]
    assert "2 at once, estimated" in describe_plan(plan, stages, 2)


def test_a_built_world_counts_no_time_in_the_estimate(tmp_path):
    """The world step always runs (a cache hit when built): the estimate asks whether its stages are built."""
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"], seeds=1)
    all_but_render = {step.key for step in plan.steps if not step.kind.always_runs}
    cold = describe_plan(plan, FakeStages(tmp_path, done=all_but_render), 2)
    built = describe_plan(plan, FakeStages(tmp_path, done=all_but_render, world_built=True), 2)
    render = format_seconds(load_profile("mini").estimate("render", None))
    assert f"estimated {render} on" in built and f"estimated {render} on" not in cold
    assert "[ built] build the world" in built and "[to run] build the world" in cold
    assert estimate_seconds(plan, FakeStages(tmp_path, done=all_but_render, world_built=True), 2)[0] == 2


def test_seeds_and_model_selection():
    plan = plan_tables(["5"], load_profile("mini"), models=["mini-llava-s"], seeds=2)
    assert {run.seed for run in plan.runs} == {0, 1}
    assert {run.model for run in plan.runs} == {"mini-llava-s"}
    with pytest.raises(UserError, match="known models"):
        plan_tables(["5"], load_profile("mini"), models=["llava-1.5-7b"])


def test_the_mini_profile_trains_three_seeds_unless_asked_otherwise(tmp_path):
    from aspo_repro.orchestration import prepare

    default = prepare(["1"], "mini", work_dir=tmp_path / "w", results_root=tmp_path / "r")
    assert default.seeds == 3 and {run.seed for run in default.plan.runs} == {0, 1, 2}
    asked = prepare(["1"], "mini", seeds=1, work_dir=tmp_path / "w", results_root=tmp_path / "r")
    assert asked.seeds == 1 and {run.seed for run in asked.plan.runs} == {0}
    assert prepare(["1"], "paper", work_dir=tmp_path / "w", results_root=tmp_path / "r").seeds == 1


def test_paper_profile_needs_no_world():
    plan = plan_tables(["1"], load_profile("paper"))
    assert not plan.of_kind(WORLD)
    assert {r.model for r in plan.runs} == {"instructblip-13b", "llava-1.5-7b", "llava-1.5-13b"}


def test_figure3_reuses_table5_runs_and_adds_the_sweep():
    plan = plan_tables(["5", "figure3"], load_profile("mini"), models=["mini-llava-s"])
    trained = {step.run.method for step in plan.of_kind(TRAIN)}
    assert {"aspo-s", "aspo-p", "aspo", "aspo[alpha=0.25]", "aspo[alpha=0.75]"} <= trained
    assert len(plan.of_kind(TRAIN)) == len(trained)  # each run once, even when two tables need it


class FakeStages:
    """Stages that record what ran; a step listed in ``fail`` raises."""

    def __init__(self, tmp_path, done=(), fail=(), world_built=False):
        self.ws = Workspace(load_profile("mini"), tmp_path / "results", tmp_path / "tables", tmp_path / "work")
        self.done, self.fail, self.ran, self.world_built = set(done), set(fail), [], world_built

    def is_done(self, step):
        return step.key in self.done

    def world_is_built(self):
        return self.world_built

    def training_processes(self, run, gpus, accelerate_config=None):
        return 1

    def execute(self, step, context):
        if step.key in self.fail:
            raise RuntimeError("boom")
        self.ran.append(step.key)
        if not step.kind.always_runs:  # as the real stages: the world and the tables always run
            self.done.add(step.key)


def test_runner_reuses_finished_steps_and_isolates_failures(tmp_path):
    plan = plan_tables(["1"], load_profile("mini"))
    train_key = ("train", "mini-llava-s", "dpo", 0)
    stages = FakeStages(tmp_path, done={("prefs", "mini-instructblip")}, fail={train_key})
    report = execute(plan, stages, Invocation(), log=lambda message: None)
    status = {o.step.key: o.status for o in report.outcomes}
    assert status[("prefs", "mini-instructblip")] == REUSED
    assert status[train_key] == FAILED
    assert status[("evaluate", "mini-llava-s", "dpo", 0)] == BLOCKED
    assert status[("train", "mini-llava-s", "aspo", 0)] == RAN  # independent work goes on
    assert status[("render", "1")] == RAN  # the table shows what exists
    assert not report.ok
    journal = [json.loads(line) for line in (tmp_path / "work" / "reproduce.jsonl").read_text().splitlines()]
    assert len(journal) == len(plan.steps)
    assert "boom" in next(entry["error"] for entry in journal if entry["status"] == FAILED)
    assert (tmp_path / "work" / "failures").is_dir()
    # a second run reuses what finished and retries only the failure and what it blocked
    stages.fail.clear()
    stages.ran.clear()
    again = execute(plan, stages, Invocation(), log=lambda message: None)
    assert set(stages.ran) == {train_key, ("evaluate", "mini-llava-s", "dpo", 0), ("world",), ("render", "1")}
    assert again.ok


def test_describe_plan_shows_cost(tmp_path):
    plan = plan_tables(["6"], load_profile("mini"), models=["mini-llava-s"])
    text = describe_plan(plan, FakeStages(tmp_path))
    assert "train aspo-token on mini-llava-s (seed 0)" in text
    assert "to run, estimated" in text


def test_run_key_paths_keep_variants_apart(tmp_path):
    ws = Workspace(load_profile("mini"), tmp_path / "r", tmp_path / "t", tmp_path / "w")
    a = ws.train_dir(RunKey("mini", "mini-llava-s", "aspo[alpha=0.25]", 0))
    b = ws.train_dir(RunKey("mini", "mini-llava-s", "aspo", 0))
    assert a != b and a.parent.parent == b.parent.parent


def test_a_result_made_from_a_rebuilt_step_is_made_again(tmp_path):
    """An evaluation whose training run is redone now is redone too, even if a result exists."""
    plan = plan_tables(["1"], load_profile("mini"), models=["mini-llava-s"])
    evaluations = {step.key for step in plan.of_kind(EVALUATE)}
    stages = FakeStages(tmp_path, done=evaluations | {("prefs", "mini-llava-s")})
    execute(plan, stages, Invocation(), log=lambda message: None)
    assert ("evaluate", "mini-llava-s", "base", 0) not in stages.ran  # nothing it needs was rebuilt
    assert {("train", "mini-llava-s", "dpo", 0), ("evaluate", "mini-llava-s", "dpo", 0),
            ("train", "mini-llava-s", "aspo", 0), ("evaluate", "mini-llava-s", "aspo", 0)} <= set(stages.ran)


def test_the_plans_cost_is_the_profiles_estimate_of_each_step_to_run_but_what_is_made_beside_the_world(tmp_path):
    from aspo_repro.orchestration.runner import estimate_seconds

    stages = FakeStages(tmp_path)
    profile = stages.ws.profile
    plan = plan_tables(["5"], profile, models=["mini-llava-s"])
    todo, seconds = estimate_seconds(plan, stages)
    by_kind = {kind: len(plan.of_kind(STEP_KINDS[kind])) for kind in STEP_KINDS if kind != "world"}
    assert todo == len(plan.steps)
    beside = len(plan.steps[0].beside)  # the caption and judge-trained scorers, made by the world step's two workers
    assert beside == 2
    assert seconds == COLD_BUILD_SECONDS["full"] + sum(profile.estimates[kind] * count for kind, count in by_kind.items()) - (
        beside * profile.estimates["scorer"] / 2) > 0


def test_each_world_scorer_is_made_once_before_the_steps_that_score_with_it():
    """The caption scorer scores the mini data: before every prefs step; the judge-trained scorer
    scores the chosen sentences again for its labelled variant: before those trainings only."""
    plan = plan_tables(["5"], load_profile("mini"), models=["mini-llava-s"])
    keys = [step.key for step in plan.steps]
    for name in ("captions", "judge-trained"):
        made = [step for step in plan.steps if step.key == ("scorer", name)]
        assert len(made) == 1 and made[0].needs == (("world",),), name
    for step in plan.of_kind(PREFS):
        assert ("scorer", "captions") in step.needs and keys.index(("scorer", "captions")) < keys.index(step.key)
    for step in plan.of_kind(TRAIN):
        scores_again = step.run.method in ("aspo-s[scorer=judge-trained]", "aspo[scorer=judge-trained]")
        assert (("scorer", "judge-trained") in step.needs) == scores_again, step.key
        assert not scores_again or keys.index(("scorer", "judge-trained")) < keys.index(step.key)
    # both are made beside the world's stages by the world step
    assert [made.key for made in plan.steps[0].beside] == [("scorer", "captions"), ("scorer", "judge-trained")]
    assert plan.steps[0].label().endswith(
        "; beside its stages: train the world's caption scorer; train the world's judge-trained scorer")
    # the diagnosis of the data measures ASPO's weights with the judge-trained scorer too: Table 5 has its rows
    (diagnose,) = plan.of_kind(DIAGNOSE)
    assert diagnose.rescored_by == ("judge-trained",) and ("scorer", "judge-trained") in diagnose.needs
    assert diagnose.key in plan.of_kind(RENDER)[0].needs
    smoke = plan_tables(["5"], load_profile("mini-smoke"), models=["mini-llava-s"])
    # its data is scored by the judge-trained scorer, and none of its methods scores again
    assert [step.key for step in smoke.steps if step.key[0] == "scorer"] == [("scorer", "judge-trained")]
    assert not any(("scorer", "judge-trained") in step.needs for step in smoke.of_kind(TRAIN))
    assert [made.key for made in smoke.steps[0].beside] == [("scorer", "judge-trained")]
    assert smoke.of_kind(DIAGNOSE)[0].rescored_by == ()


def test_table1_trains_no_judge_trained_scorer_and_its_diagnoses_measure_the_datas_weights_only():
    """The first command's world makes the caption scorer only: no row of Table 1 scores again."""
    plan = plan_tables(["1"], load_profile("mini"))
    assert [made.key for made in plan.steps[0].beside] == [("scorer", "captions")]
    assert {step.model: step.rescored_by for step in plan.of_kind(DIAGNOSE)} == {
        "mini-instructblip": (), "mini-llava-s": (), "mini-llava-m": ()}
    both = plan_tables(["1", "1-scorers"], load_profile("mini"))
    assert {step.rescored_by for step in both.of_kind(DIAGNOSE)} == {("judge-trained",)}


def test_the_world_step_trains_the_graded_base_models_beside_the_worlds_stages():
    plan = plan_tables(["base-quality"], load_profile("mini"), models=["mini-llava-s"])
    beside = {made.key for made in plan.steps[0].beside}
    assert beside == {("scorer", "captions"), ("sft", "mini-llava-s-sft30"), ("sft", "mini-llava-s-sft300")}
    assert beside <= {step.key for step in plan.steps}  # their own steps stay: each finds its work done
