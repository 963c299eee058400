"""The plan of a reproduction: the steps a table needs, in dependency order.

A table needs evaluation results (``RunKey``s, from ``aspo_repro.tables.runs_needed``). Each result
needs an evaluated model: the base model itself, or a model trained by a method on preference data
that the base model generated (the SeVa pipeline), in a world that the mini profile builds first.

    world (mini) -> prefs(model) -> train(model, method, seed) -> evaluate(run) -> render(table)
                    prefs(model) -> diagnose(model) -> render(table)   (mini: the data against the exact judge)

The mini world's preference data is scored by one of its scorers, trained once: world ->
scorer(captions) -> prefs(model); a method that scores every chosen sentence again with another
(``scorer=judge-trained``) also needs that one, and so does the diagnosis of that model's data, which
measures ASPO's weights with it too: world -> scorer(name) -> train, diagnose(model). A graded base model
(``mini-llava-s-sft25``) is trained first: world -> sft(model) -> prefs(model), evaluate(model, base).
The world step does the scorer and sft steps' work beside the world's own stages, in its worker
processes (``Step.beside``); their steps then find it done.

Steps are identified by a ``key`` (a tuple); a step lists the keys it needs. What a step does and
whether it is already done are its kind's to say (``step_kinds``).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from aspo_repro.orchestration.step_kinds import (
    DIAGNOSE,
    EVALUATE,
    PREFS,
    RENDER,
    SCORER,
    SFT,
    TRAIN,
    WORLD,
    StepKind,
)
from aspo_repro.results import RunKey, resolve_method


@dataclass(frozen=True)
class Step:
    kind: StepKind
    key: tuple
    needs: tuple[tuple, ...] = ()
    run: RunKey | None = None  # train/evaluate steps: the run they serve
    model: str | None = None
    # the world step: the steps whose work it does beside the world's own stages (their kinds say how)
    beside: tuple[Step, ...] = ()
    # a diagnose step: the world scorers it measures ASPO's weights with beside the data's (``WORLD_SCORERS``)
    rescored_by: tuple[str, ...] = ()

    @property
    def on_model(self) -> str | None:
        """The model the step works on (None for the world and a table)."""
        return self.run.model if self.run else self.model

    def label(self) -> str:
        return self.kind.label(self)


@dataclass
class Plan:
    profile: str
    tables: list[str]
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        if step.key not in {s.key for s in self.steps}:
            self.steps.append(step)
        return step

    def of_kind(self, kind: StepKind) -> list[Step]:
        return [step for step in self.steps if step.kind is kind]

    @property
    def runs(self) -> list[RunKey]:
        return [step.run for step in self.of_kind(EVALUATE)]

    def critical_paths(self, seconds: Callable[[Step], float]) -> dict[tuple, float]:
        """Each step's longest chain of work to the plan's end: its own ``seconds`` and the longest chain
        of the steps that need it. Of the steps ready, starting the one with the longest chain first leaves
        fewer workers idle waiting on one step (list scheduling by critical path, as HLFET does)."""
        needed_by: dict[tuple, list[Step]] = {step.key: [] for step in self.steps}
        for step in self.steps:
            for need in step.needs:
                needed_by.setdefault(need, []).append(step)
        chains: dict[tuple, float] = {}
        for step in reversed(self.steps):  # every step is listed after what it needs
            chains[step.key] = seconds(step) + max((chains[after.key] for after in needed_by[step.key]), default=0.0)
        return chains

    def makespan(self, seconds: Callable[[Step], float], slots: int) -> float:
        """How long the plan takes with ``slots`` steps at once, started as ``parallel.run_parallel`` starts
        them (simulated): of the ready steps the longest chain first; a step whose kind uses every core alone,
        once the running ones end; a step of no ``seconds`` (done already) at once, in no slot."""
        cost = {step.key: seconds(step) for step in self.steps}
        chains = self.critical_paths(lambda step: cost[step.key])
        pending = sorted(self.steps, key=lambda step: -chains[step.key])
        finished: set[tuple] = set()
        running: list[tuple[float, tuple]] = []  # a heap: (when it ends, its key)
        now = 0.0
        while pending or running:
            step = next((step for step in pending if finished.issuperset(step.needs)), None)
            if step is not None and _starts_now(step, cost[step.key], len(running), slots):
                pending.remove(step)
                if step.kind.uses_every_core or not cost[step.key]:
                    now += cost[step.key]
                    finished.add(step.key)
                else:
                    heapq.heappush(running, (now + cost[step.key], step.key))
            elif running:
                now, key = heapq.heappop(running)
                finished.add(key)
            else:  # needs outside the plan: what is left, in turn
                return now + sum(cost[step.key] for step in pending)
        return now


def _starts_now(step: Step, seconds: float, running: int, slots: int) -> bool:
    """Whether a ready step starts beside ``running`` steps: one done already at once, one that uses
    every core when none runs, any other in a free slot."""
    if not seconds:
        return True
    return running == 0 if step.kind.uses_every_core else running < slots


def world_key() -> tuple:
    return (WORLD.name,)


def prefs_key(model: str) -> tuple:
    return (PREFS.name, model)


def diagnose_key(model: str) -> tuple:
    return (DIAGNOSE.name, model)


def sft_key(model: str) -> tuple:
    return (SFT.name, model)


def scorer_key(kind: str) -> tuple:
    return (SCORER.name, kind)


def train_key(run: RunKey) -> tuple:
    return (TRAIN.name, run.model, run.method, run.seed)


def evaluate_key(run: RunKey) -> tuple:
    return (EVALUATE.name, run.model, run.method, run.seed)


def build_plan(profile: str, tables: dict[str, list[RunKey]], has_world_step: bool,
               data_scorer: str | None = None, diagnoses: bool = False) -> Plan:
    """The steps that produce every run of ``tables`` (table name -> its runs) and render them;
    ``has_world_step``: a world step (the mini world, or the rehearsal's stand-ins) comes first; ``data_scorer``:
    the world's scorer that scores the preference data, made before it (mini); ``diagnoses``: each model's
    preference data is measured against the exact judge before its tables are rendered (mini).

    Steps come in an order that respects their needs and finishes whole runs early: the world,
    then for each run its preference data, training and evaluation, then the renderings.
    """
    plan = Plan(profile=profile, tables=list(tables))
    base_needs: tuple[tuple, ...] = ()
    if has_world_step:
        plan.add(Step(WORLD, world_key()))
        base_needs = (world_key(),)
    rescorers = _rescorers_by_model(tables)
    renders = []
    for table, runs in tables.items():
        table_needs = []
        for run in runs:
            needs = model_needs = (*base_needs, *_sft_needs(plan, run.model, base_needs))
            if not run.is_base:
                plan.add(Step(PREFS, prefs_key(run.model), (*model_needs, *_world_scorer_needs(plan, data_scorer, base_needs)),
                              model=run.model))
                if diagnoses:
                    table_needs.append(_diagnose_step(plan, run.model, rescorers.get(run.model, ()), base_needs))
                plan.add(Step(TRAIN, train_key(run), (prefs_key(run.model), *_scorer_needs(plan, run, base_needs)),
                              run=run, model=run.model))
                needs = (train_key(run),)
            table_needs.append(plan.add(Step(EVALUATE, evaluate_key(run), needs, run=run, model=run.model)).key)
        renders.append(Step(RENDER, (RENDER.name, table), tuple(dict.fromkeys(table_needs))))
    for render in renders:
        plan.add(render)
    if has_world_step:
        plan.steps[0] = dataclasses.replace(
            plan.steps[0], beside=tuple(step for step in plan.steps if step.kind.made_beside_world(step)))
    return plan


def _diagnose_step(plan: Plan, model: str, scorers: tuple[str, ...], base_needs: tuple[tuple, ...]) -> tuple:
    """The step that measures ``model``'s preference data (added to the plan once), with the world
    scorers ``scorers`` made before it; its key."""
    scorer_needs = (need for name in scorers for need in _world_scorer_needs(plan, name, base_needs))
    step = Step(DIAGNOSE, diagnose_key(model), (prefs_key(model), *scorer_needs), model=model, rescored_by=scorers)
    return plan.add(step).key


def _rescorers_by_model(tables: dict[str, list[RunKey]]) -> dict[str, tuple[str, ...]]:
    """Per model, the world scorers its runs' methods score the chosen sentences with again: its
    diagnosis measures ASPO's weights with each, beside the data's own similarities."""
    found: dict[str, set[str]] = {}
    for runs in tables.values():
        for run in runs:
            method = None if run.is_base else resolve_method(run.method)
            if method is not None and method.recomputes_similarity:
                found.setdefault(run.model, set()).add(method.rescorer)
    return {model: tuple(sorted(names)) for model, names in found.items()}


def _sft_needs(plan: Plan, model: str, base_needs: tuple[tuple, ...]) -> tuple[tuple, ...]:
    """The step that trains ``model`` (added to the plan once), if it is a graded base model."""
    from aspo_repro.models import get_model_spec

    if get_model_spec(model).graded_from is None:
        return ()
    return (plan.add(Step(SFT, sft_key(model), base_needs, model=model)).key,)


def _scorer_needs(plan: Plan, run: RunKey, base_needs: tuple[tuple, ...]) -> tuple[tuple, ...]:
    """The scorer step a run's training needs (added to the plan once), if its method scores again."""
    return _world_scorer_needs(plan, resolve_method(run.method).rescorer, base_needs)


def _world_scorer_needs(plan: Plan, name: str | None, base_needs: tuple[tuple, ...]) -> tuple[tuple, ...]:
    """The step that makes the world's scorer ``name`` (added to the plan once); none for None."""
    if name is None:
        return ()
    return (plan.add(Step(SCORER, scorer_key(name), base_needs)).key,)
