"""The kinds of plan step, each a small object that says what it does and answers for itself.

A kind is luigi's ``Task`` shape: how a step of it is labelled, whether its output is there
(``is_done``), how it runs (``run``), and what the launchers must know of it (whether it waits on
failed inputs, whether it may span several processes, whether the memory plan sizes it). Every
launcher (the sequential runner, ``--jobs N``, Slurm) and the plan ask the kind; nothing outside
this module compares a kind's name.

    world (mini) -> prefs(model) -> train(model, method, seed) -> evaluate(run) -> render(table)
                    prefs(model) -> diagnose(model) -> render(table)   (mini: the data against the exact judge)
    world (mini) -> scorer(kind) -> train(model, method, seed), diagnose(model)   (a method that scores its
                                                                                    sentences again)
    world (mini) -> sft(model) -> prefs(model), evaluate(model, base)   (a graded base model)

Each stage reuses finished work and resumes interrupted work through the library it calls
(``build_world``'s cache, the preference pipeline's shards, the trainer's checkpoints, the
evaluation's atomic result file); a kind only maps its steps onto those calls.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import TYPE_CHECKING, ClassVar

from aspo_repro.files import read_record
from aspo_repro.repository import in_repository
from aspo_repro.results import result_exists
from aspo_repro.storage import atomic_write_json

if TYPE_CHECKING:
    from aspo_repro.miniworld.build import Beside
    from aspo_repro.models.registry import ModelSpec
    from aspo_repro.orchestration.memory import Hardware, StepPlan
    from aspo_repro.orchestration.plan import Step
    from aspo_repro.orchestration.profiles import Profile
    from aspo_repro.orchestration.stages import Invocation, Stages


class StepKind(abc.ABC):
    """What every kind answers; the defaults are those of a step with an output of its own."""

    name: ClassVar[str]
    # Runs even when a step it needs failed (a table renders whatever exists; Slurm's afterany).
    runs_after_failed_needs: ClassVar[bool] = False
    # Has no output that says it is done: always run (a cache hit when nothing changed).
    always_runs: ClassVar[bool] = False
    # Running it again makes what is made from it stale (the world is content-addressed: it does not).
    remakes_dependents: ClassVar[bool] = True
    # May run in several processes under ``accelerate launch`` (one per GPU).
    spans_processes: ClassVar[bool] = False
    # Keeps every core busy with worker processes of its own (the world's stages): with ``--jobs N`` on a
    # CPU it runs in the launching process, alone, its progress on the terminal.
    uses_every_core: ClassVar[bool] = False

    @abc.abstractmethod
    def label(self, step: Step) -> str:
        """The step as the plan and the logs name it."""

    def is_done(self, stages: Stages, step: Step) -> bool:
        return False

    def finds_work_done(self, stages: Stages, step: Step) -> bool:
        """Whether running it now would find its work done: a step that is done, or one that always runs
        and would only reuse what is built (the plan's estimate counts no time for it)."""
        return self.is_done(stages, step)

    @abc.abstractmethod
    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        """Do the step in this process (one rank of a launch that spans processes)."""

    def plan_memory(self, model: str, config: dict, spec: ModelSpec, profile: Profile, hardware: Hardware
                    ) -> StepPlan | None:
        """Its peak GPU memory for ``model`` (``config``: its checkpoint's) on ``hardware``; None: not on GPUs."""
        return None

    def estimate(self, profile: Profile, step: Step) -> float:
        """The seconds ``step`` is expected to take on ``profile``'s reference machine (its estimates)."""
        return profile.estimate(self.name, step.on_model)

    def made_beside_world(self, step: Step) -> bool:
        """Whether the world step does this step's work beside the world's stages (``beside_world``)."""
        return False

    def beside_world(self, stages: Stages, step: Step) -> Beside | None:
        """The job that makes this step's output beside the world's stages (None where not
        ``made_beside_world``)."""
        return None

    def __repr__(self) -> str:
        return f"<step kind {self.name}>"


class World(StepKind):
    name = "world"
    always_runs = True
    remakes_dependents = False
    uses_every_core = True

    def label(self, step: Step) -> str:
        beside = f"; beside its stages: {'; '.join(made.label() for made in step.beside)}" if step.beside else ""
        return f"build the world (the mini world, or the rehearsal's stand-ins){beside}"

    def finds_work_done(self, stages: Stages, step: Step) -> bool:
        return stages.ws.profile.standins is None and stages.world_is_built()

    def estimate(self, profile: Profile, step: Step) -> float:
        """The profile's estimate where it gives one; else a mini world's cold build, as ``obtain`` announces it."""
        if self.name in profile.estimates or profile.world is None or profile.standins is not None:
            return super().estimate(profile, step)
        from aspo_repro.miniworld.obtain import cold_build_seconds

        return cold_build_seconds(profile.world.size)

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        profile = stages.ws.profile
        if profile.standins is not None:
            from aspo_repro.rehearsal.build import build_standins

            build_standins(profile, log=stages.log)
        else:
            stages.world(beside=[job for made in step.beside if (job := made.kind.beside_world(stages, made))])


class Prefs(StepKind):
    name = "prefs"

    def label(self, step: Step) -> str:
        return f"preference data of {step.model}"

    def is_done(self, stages: Stages, step: Step) -> bool:
        ws = stages.ws
        built = read_record(ws.prefs_dir(step.model) / "manifest.json", "preference manifest", stages.warn_once)
        return built is not None and (not ws.profile.builds_mini_world or _scored_by_data_scorer(built, ws.profile))

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.data.pipeline import build_preferences
        ws = stages.ws
        profile = ws.profile
        world = profile.world_settings
        build_preferences(dataclasses.replace(
            profile.prefs, model=step.model, out=ws.prefs_dir(step.model), clip=clip_setting(profile.prefs.clip),
            world_seed=world.seed, world_size=world.size, world_replicate=world.replicate, cache_dir=ws.cache_dir,
            hub_cache=profile.hub_cache,
        ))

    def plan_memory(self, model, config, spec, profile, hardware):
        from aspo_repro.orchestration.memory import plan_preference_generation

        return plan_preference_generation(model, config, profile, hardware)


class Diagnose(StepKind):
    """Mini preference data measured against the exact judge (``prefs diagnose``): the pairs, and how well
    ASPO's weights rank an answer's correct sentences above its hallucinated ones, with the data's own
    similarities and with each scorer the model's runs score the chosen sentences with again
    (``Step.rescored_by``). A measurement: made again, it makes nothing else stale."""

    name = "diagnose"
    remakes_dependents = False

    def label(self, step: Step) -> str:
        return f"measure the preference data of {step.model} against the exact judge"

    def is_done(self, stages: Stages, step: Step) -> bool:
        diagnosis = read_record(stages.ws.diagnosis_path(step.model), "preference diagnosis", stages.warn_once)
        return diagnosis is not None and set(step.rescored_by) <= set(diagnosis.get("weights_by_scorer") or {})

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.aspo_choices import WORLD_SCORERS
        from aspo_repro.clip_scorer import ClipScorer
        from aspo_repro.data.diagnostics import diagnose

        ws, world = stages.ws, stages.world()
        others = {name: ClipScorer.from_dir(WORLD_SCORERS[name].checkpoint(world)).score for name in step.rescored_by}
        atomic_write_json(ws.diagnosis_path(step.model), diagnose(ws.prefs_dir(step.model), world,
                                                                 other_scorers=others))


def _scored_by_data_scorer(manifest: dict, profile) -> bool:
    """Whether mini data was scored by the world's scorer the profile names (``prefs.data_scorer``); data
    an older harness scored by another is not reused: its build then says to delete it."""
    return profile.world_data_scorer is None or (
        (manifest.get("settings") or {}).get("data_scorer") == profile.world_data_scorer)


def clip_setting(clip: str | None) -> str | None:
    """A profile's CLIP: a directory (relative to the repository) when one exists there, else
    open_clip's ``ARCH/PRETRAINED`` as written."""
    return str(in_repository(clip)) if clip and in_repository(clip).is_dir() else clip


def located_world(stages: Stages):
    """The profile's world where it lies, built or not (a step of it asks what is there, building nothing)."""
    from aspo_repro.miniworld.build import locate_world

    settings, ws = stages.ws.profile.world_settings, stages.ws
    return locate_world(settings.seed, ws.cache_dir, settings.size, settings.replicate)


class Scorer(StepKind):
    """A scorer of the mini world (``WORLD_SCORERS``): the one that scores the preference data, or one a
    method scores every chosen sentence with again (``scorer=judge-trained``): made once, before the
    steps that need it, so that its time is planned and no two of them train it at once.
    Content-addressed, as the world."""

    name = "scorer"
    remakes_dependents = False

    def label(self, step: Step) -> str:
        from aspo_repro.aspo_choices import WORLD_SCORERS

        return f"train the world's {WORLD_SCORERS[step.key[1]].title}"

    def is_done(self, stages: Stages, step: Step) -> bool:
        from aspo_repro.aspo_choices import WORLD_SCORERS

        return WORLD_SCORERS[step.key[1]].built(located_world(stages))

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.aspo_choices import WORLD_SCORERS

        WORLD_SCORERS[step.key[1]].checkpoint(stages.world())

    def made_beside_world(self, step: Step) -> bool:
        from aspo_repro.aspo_choices import WORLD_SCORERS

        return WORLD_SCORERS[step.key[1]].made_beside_world is not None

    def beside_world(self, stages: Stages, step: Step) -> Beside:
        from aspo_repro.aspo_choices import WORLD_SCORERS
        from aspo_repro.miniworld.build import Beside

        return Beside(WORLD_SCORERS[step.key[1]].made_beside_world)


class Sft(StepKind):
    """A graded base model (``mini-llava-s-sft25``: the world's SFT recipe for a share of its steps),
    trained once before its preference data and its evaluation. Content-addressed, as the world."""

    name = "sft"
    remakes_dependents = False

    def label(self, step: Step) -> str:
        return f"train the graded base model {step.model}"

    def is_done(self, stages: Stages, step: Step) -> bool:
        from aspo_repro.miniworld.graded import graded_model_built

        return graded_model_built(located_world(stages), step.model)

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.miniworld.graded import ensure_graded_model

        ensure_graded_model(stages.world(), step.model)

    def made_beside_world(self, step: Step) -> bool:
        return True

    def beside_world(self, stages: Stages, step: Step) -> Beside:
        from aspo_repro.miniworld.build import Beside
        from aspo_repro.miniworld.graded import graded_recipe, make_graded_model

        vision = graded_recipe(located_world(stages), step.model).vision_from
        return Beside(functools.partial(make_graded_model, step.model), needs=("data", vision))


class Train(StepKind):
    name = "train"
    spans_processes = True

    def label(self, step: Step) -> str:
        return f"train {step.run.method} on {step.run.model} (seed {step.run.seed})"

    def is_done(self, stages: Stages, step: Step) -> bool:
        return stages.training_is_done(step.run)

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        """Train in this process: one rank of an ``accelerate launch`` the launcher started, or the only one."""
        stages.train(step.run)

    def plan_memory(self, model, config, spec, profile, hardware):
        from aspo_repro.orchestration.memory import plan_train

        return plan_train(model, config, spec, profile, hardware)


class Evaluate(StepKind):
    name = "evaluate"

    def label(self, step: Step) -> str:
        return f"evaluate {step.run.label()}"

    def is_done(self, stages: Stages, step: Step) -> bool:
        return result_exists(stages.ws.results_root, step.run, stages.warn_once)

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.evaluation.runner import evaluate
        from aspo_repro.rehearsal.servers import standin_servers

        ws, run = stages.ws, step.run
        world = stages.world() if ws.profile.builds_mini_world else None
        settings = dataclasses.replace(
            ws.profile.evaluate, model_dir=stages.model_dir(run), out=ws.eval_path(run), run=run,
            benchmark_dir=world.benchmark_dir if world else None,
        )
        with standin_servers(ws.profile.standins, settings, stages.log):
            evaluate(settings)

    def plan_memory(self, model, config, spec, profile, hardware):
        from aspo_repro.orchestration.memory import plan_evaluation

        return plan_evaluation(model, config, profile, hardware)


class Render(StepKind):
    name = "render"
    runs_after_failed_needs = True
    always_runs = True

    def label(self, step: Step) -> str:
        return f"render {step.key[1]}"

    def run(self, stages: Stages, step: Step, invocation: Invocation) -> None:
        from aspo_repro.tables import render_table

        profile = stages.ws.profile
        render_table(step.key[1], profile.results_profile, stages.ws.results_root, stages.ws.tables_dir,
                     seeds=invocation.seeds, command=invocation.command, warning=profile.table_warning)


WORLD, PREFS, DIAGNOSE, SCORER, SFT = World(), Prefs(), Diagnose(), Scorer(), Sft()
TRAIN, EVALUATE, RENDER = Train(), Evaluate(), Render()
STEP_KINDS: dict[str, StepKind] = {kind.name: kind for kind in (WORLD, SFT, PREFS, DIAGNOSE, SCORER, TRAIN, EVALUATE,
                                                                 RENDER)}


def get_step_kind(name: str) -> StepKind:
    from aspo_repro.errors import unknown_name

    if name not in STEP_KINDS:
        raise unknown_name("step kind", name, list(STEP_KINDS))
    return STEP_KINDS[name]
