"""The plan of a reproduction: the steps a table needs, in dependency order.

A table needs evaluation results (``RunKey``s, from ``aspo_repro.tables.runs_needed``). Each result
needs an evaluated model: the base model itself, or a model trained by a method on preference data
that the base model generated (the SeVa pipeline), in a world that the mini profile builds first.

    world (mini) -> prefs(model) -> train(model, method, seed) -> evaluate(run) -> render(table)

Steps are identified by a ``key`` (a tuple); a step lists the keys it needs. Whether a step is
already done is for the stage runner to say (it checks the completion markers of each stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aspo_repro.results import RunKey

STEP_KINDS = ("world", "prefs", "train", "evaluate", "render")


@dataclass(frozen=True)
class Step:
    kind: str
    key: tuple
    needs: tuple[tuple, ...] = ()
    run: RunKey | None = None  # train/evaluate steps: the run they serve
    model: str | None = None

    @property
    def on_model(self) -> str | None:
        """The model the step works on (None for the world and a table)."""
        return self.run.model if self.run else self.model

    def label(self) -> str:
        if self.kind == "world":
            return "build the world (the mini world, or the rehearsal's stand-ins)"
        if self.kind == "prefs":
            return f"preference data of {self.model}"
        if self.kind == "train":
            return f"train {self.run.method} on {self.run.model} (seed {self.run.seed})"
        if self.kind == "evaluate":
            return f"evaluate {self.run.label()}"
        return f"render {self.key[1]}"


@dataclass
class Plan:
    profile: str
    tables: list[str]
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        if step.key not in {s.key for s in self.steps}:
            self.steps.append(step)
        return step

    def of_kind(self, kind: str) -> list[Step]:
        return [step for step in self.steps if step.kind == kind]

    @property
    def runs(self) -> list[RunKey]:
        return [step.run for step in self.of_kind("evaluate")]


def world_key() -> tuple:
    return ("world",)


def prefs_key(model: str) -> tuple:
    return ("prefs", model)


def train_key(run: RunKey) -> tuple:
    return ("train", run.model, run.method, run.seed)


def evaluate_key(run: RunKey) -> tuple:
    return ("evaluate", run.model, run.method, run.seed)


def build_plan(profile: str, tables: dict[str, list[RunKey]], needs_world: bool) -> Plan:
    """The steps that produce every run of ``tables`` (table name -> its runs) and render them.

    Steps come in an order that respects their needs and finishes whole runs early: the world,
    then for each run its preference data, training and evaluation, then the renderings.
    """
    plan = Plan(profile=profile, tables=list(tables))
    base_needs: tuple[tuple, ...] = ()
    if needs_world:
        plan.add(Step("world", world_key()))
        base_needs = (world_key(),)
    renders = []
    for table, runs in tables.items():
        evaluations = []
        for run in runs:
            needs = base_needs
            if not run.is_base:
                plan.add(Step("prefs", prefs_key(run.model), base_needs, model=run.model))
                plan.add(Step("train", train_key(run), (prefs_key(run.model),), run=run, model=run.model))
                needs = (train_key(run),)
            evaluations.append(plan.add(Step("evaluate", evaluate_key(run), needs, run=run, model=run.model)).key)
        renders.append(Step("render", ("render", table), tuple(evaluations)))
    for render in renders:
        plan.add(render)
    return plan
