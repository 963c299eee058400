"""Where a profile's outputs live (``Workspace``) and what every kind of step shares (``Stages``):
the mini world built once, where model names resolve, what the profile asks of a training run.

What each kind of step does and how it tells it is done is the kind's (``step_kinds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aspo_repro.files import read_record
from aspo_repro.orchestration.profiles import Profile
from aspo_repro.results import RunKey, diagnosis_path, method_options, method_slug
from aspo_repro.storage import atomic_write_json, sha256_file, stable_hash

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aspo_repro.miniworld.build import Beside
    from aspo_repro.orchestration.plan import Step
    from aspo_repro.training.config import TrainConfig

ASKED_FILE = "asked.json"  # beside run.json: what the orchestration asked of the run (Stages.training_asked)


@dataclass
class Workspace:
    """Where a profile's outputs go: results, tables, and the work (preference data, runs)."""

    profile: Profile
    results_root: Path
    tables_dir: Path
    work_dir: Path
    cache_dir: Path | None = None

    def prefs_dir(self, model: str) -> Path:
        return self.work_dir / model / "prefs"

    def train_dir(self, run: RunKey) -> Path:
        return self.work_dir / run.model / method_slug(run.method) / f"seed{run.seed}"

    def eval_path(self, run: RunKey) -> Path:
        return run.eval_path(self.results_root)

    def diagnosis_path(self, model: str) -> Path:
        """The measurement of a mini model's preference data (``data/diagnostics.py``), beside its results."""
        return diagnosis_path(self.results_root, self.profile.results_profile, model)


@dataclass(frozen=True)
class Invocation:
    """The ``reproduce`` command a step runs for: what its tables record and its journal line says."""

    seeds: int | None = None  # the seeds the tables average over (None: every seed found)
    command: str | None = None  # the command line, printed under each table
    started: str | None = None  # when the invocation began, naming its journal entries
    git_revision: str | None = None


class Stages:
    """Runs plan steps for one workspace; the mini world is built (or loaded) once."""

    def __init__(self, workspace: Workspace, log=print):
        self.ws = workspace
        self.log = log
        self._built_world = None
        self._warned: set[str] = set()

    def warn_once(self, message: str) -> None:
        """A damaged record is reported once, however often the plan asks whether it is done."""
        if message not in self._warned:
            self._warned.add(message)
            self.log(message)

    # ------------------------------------------------------------------ done? do
    def is_done(self, step: Step) -> bool:
        return step.kind.is_done(self, step)

    def execute(self, step: Step, invocation: Invocation) -> None:
        """Run ``step`` in this process (a training: one rank of the launcher's ``accelerate launch``, or the only one)."""
        step.kind.run(self, step, invocation)

    def world(self, beside: Sequence[Beside] = ()):
        """The profile's mini world, built on first use (with ``beside`` made beside its stages)."""
        if self._built_world is None:
            from aspo_repro.miniworld import obtain_world

            settings = self.ws.profile.world
            self._built_world = obtain_world(seed=settings.seed, cache_dir=self.ws.cache_dir, size=settings.size,
                                             log=self.log, replicate=settings.replicate, beside=beside)
        return self._built_world

    def world_is_built(self) -> bool:
        """Whether every stage of the profile's mini world is built and intact (what ``world`` would reuse)."""
        from aspo_repro.miniworld.build import locate_world
        from aspo_repro.miniworld.obtain import stages_to_build

        settings = self.ws.profile.world
        return not stages_to_build(locate_world(settings.seed, self.ws.cache_dir, settings.size, settings.replicate))

    def models(self):
        """Where the profile's model names resolve: the mini world, or the hub cache of the paper models."""
        from aspo_repro.models.loading import HubCache

        return self.world() if self.ws.profile.builds_mini_world else HubCache(self.ws.profile.hub_cache)

    # ------------------------------------------------------------------ training
    def training_is_done(self, run: RunKey) -> bool:
        """Finished, asked as the profile asks now, with the global batch the recipe gives."""
        record = read_record(self.ws.train_dir(run) / "run.json", "training run record", self.warn_once)
        return (record is not None and record.get("status") == "complete" and self._asked_as_before(run)
                and trained_global_batch(record) in (None, self.batch_split(run, 1).global_batch_size))

    def train(self, run: RunKey) -> None:
        from aspo_repro.training import train

        method, config = self.training_request(run)
        train(method, run.model, self.ws.prefs_dir(run.model), self.ws.train_dir(run), config,
              log=self.log, world=self.models())
        atomic_write_json(self.ws.train_dir(run) / ASKED_FILE, self.training_asked(run))

    def training_processes(self, run: RunKey, gpus: int, accelerate_config: str | None = None) -> int:
        """The processes that train ``run`` where ``gpus`` GPUs are seen (every launcher asks this);
        a global batch they cannot divide is refused here, before anything starts."""
        processes = self.ws.profile.train.processes_for(gpus, accelerate_config)
        self.batch_split(run, processes)
        return processes

    def batch_split(self, run: RunKey, processes: int):
        """How ``run``'s global batch splits over ``processes`` processes (a UserError if it cannot)."""
        from aspo_repro.models.registry import get_model_spec
        from aspo_repro.training.config import batch_split

        return batch_split(self.training_request(run)[1], get_model_spec(run.model).training, processes)

    def training_request(self, run: RunKey) -> tuple[str, TrainConfig]:
        """The method and the training config the profile trains ``run`` with."""
        method, options = method_options(run.method)
        return method, self.ws.profile.train.train_config(run.seed).with_overrides(method_options=options or None)

    def training_asked(self, run: RunKey) -> dict:
        """What the profile asks of a training run: method, training config and the preference data's
        manifest. A finished run asked otherwise is not done: training it again, ``train`` refuses to
        overwrite it and names the directory, where reusing it would put stale scores in the tables."""
        method, config = self.training_request(run)
        manifest = self.ws.prefs_dir(run.model) / "manifest.json"
        return {"method": method, "config": config.as_dict(),
                "prefs_manifest": sha256_file(manifest) if manifest.is_file() else None}

    def _asked_as_before(self, run: RunKey) -> bool:
        asked = read_record(self.ws.train_dir(run) / ASKED_FILE, "training request record", self.warn_once)
        if asked is None:  # a run from before the record
            return True
        if isinstance(asked.get("config"), dict) and asked["config"].get("gradient_accumulation_steps") == 1:
            del asked["config"]["gradient_accumulation_steps"]  # recorded when it was set, before the split derived it
        return stable_hash(asked) == stable_hash(self.training_asked(run))

    def model_dir(self, run: RunKey) -> Path:
        if not run.is_base:
            return self.ws.train_dir(run) / "merged"
        from aspo_repro.models.loading import registry_checkpoint
        from aspo_repro.models.registry import get_model_spec

        return registry_checkpoint(get_model_spec(run.model), self.models())


def trained_global_batch(record: dict) -> int | None:
    """The pairs per optimiser step of a finished run (one recorded before the split: per-device batch x
    accumulation x processes); None when the record cannot tell."""
    if isinstance(record.get("batch"), dict):
        return record["batch"].get("global_batch_size")
    try:
        config = record["config"]
        return config["per_device_batch_size"] * config.get("gradient_accumulation_steps", 1) * record["processes"]["count"]
    except (KeyError, TypeError):
        return None
