"""Reproduction profiles as typed dataclasses, read from ``configs/profiles/<name>.yaml``.

A profile file says which results profile it fills (``mini`` or ``paper``, the columns and models
of the tables), where its outputs go, and the settings of each stage. ``mini`` is the embedded
default; ``mini-smoke`` is a tiny mini world with tiny budgets (tests and the CI regression check);
``paper`` is the paper's setting on GPUs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro.data.config import PrefsConfig
from aspo_repro.errors import UserError, unknown_name
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.files import SET_PER_JOB, dataclass_from_mapping, read_yaml_mapping
from aspo_repro.repository import REPO_ROOT

if TYPE_CHECKING:
    from aspo_repro.results import RunKey
    from aspo_repro.training.config import TrainConfig

# A Slurm job's time limit where a profile gives none: its step's estimate with this margin, at least this long.
TIME_LIMIT_MARGIN = 1.5
MIN_TIME_LIMIT_MIN = 30
PROFILE_DIR = REPO_ROOT / "configs" / "profiles"


@dataclass(frozen=True)
class WorldSettings:
    seed: int = 0
    size: str = "full"
    replicate: int = 0  # > 0: the world with float-rounding-sized noise in its initial weights (build.World)


@dataclass(frozen=True)
class PlannedGpus:
    """GPUs to plan for where none is seen (the rehearsal plans the paper's node on a CPU)."""

    gpus: int
    gpu_memory_gb: float


@dataclass(frozen=True)
class TrainSettings:
    config: str = "cpu"  # a file of configs/training/ or a path
    seed: int = 42  # replicate k trains with seed + k
    overrides: dict[str, Any] = field(default_factory=dict)
    # Processes per run; None: one per GPU the step sees (1 without GPUs). Several are started with
    # ``accelerate launch --config_file accelerate_config --num_processes N``; the training config's
    # global batch is split over them (training/config.split_batch).
    processes: int | None = None
    accelerate_config: str | None = None
    # Instead of one accelerate_config: the config of each sharding (ddp, zero2, zero3) the memory plan
    # may pick; it picks, per model, the first that fits the GPUs the step gets (docs/memory-plan.md).
    accelerate_configs: dict[str, str] | None = None
    plan_for: PlannedGpus | None = None  # the GPUs to plan for where none is seen

    def __post_init__(self) -> None:
        if self.processes is not None and (isinstance(self.processes, bool) or not isinstance(self.processes, int)
                                           or self.processes < 1):
            raise UserError(f"train.processes must be a positive integer, or left out for one per GPU; "
                            f"got {self.processes!r}")
        if self.accelerate_config and self.accelerate_configs:
            raise UserError("train: set accelerate_config (one for every model) or accelerate_configs "
                            "(the memory plan picks per model), not both")
        if self.accelerate_configs is not None:
            from aspo_repro.orchestration.memory import SHARDINGS

            unknown = sorted(set(self.accelerate_configs) - set(SHARDINGS))
            if unknown or not self.accelerate_configs:
                raise UserError(f"train.accelerate_configs: the keys are shardings, some of {', '.join(SHARDINGS)}; "
                                f"got {', '.join(unknown) or 'none'}")
        if (self.processes or 1) > 1 and not self.launches_accelerate:
            raise UserError("train.processes > 1 needs train.accelerate_config (e.g. configs/accelerate/ddp_8gpu.yaml)")
        self.train_config(0)  # an unknown file, or unknown or invalid overrides, fail when the profile loads

    def processes_for(self, gpus: int, accelerate_config: str | None = None) -> int:
        """How many processes train one run on a machine (or job) with ``gpus`` GPUs: every launcher asks
        this. ``accelerate_config``: the one the launcher starts them with, when not ``train``'s."""
        processes = self.processes or max(1, gpus)
        if processes > 1 and not (accelerate_config or self.launches_accelerate):
            raise UserError(f"training in {processes} processes (one per GPU: train.processes is not set) needs "
                            "train.accelerate_config (e.g. configs/accelerate/ddp_8gpu.yaml), or train.processes: 1")
        return processes

    @property
    def launches_accelerate(self) -> bool:
        return bool(self.accelerate_config or self.accelerate_configs)

    @property
    def sharding_is_planned(self) -> bool:
        return self.accelerate_configs is not None

    def train_config(self, seed_index: int) -> TrainConfig:
        """The training config of a run's seed index (``reproduce --seeds``): seed ``seed + seed_index``."""
        from aspo_repro.training.config import load_train_config

        return load_train_config(self.config).with_overrides(seed=self.seed + seed_index, **self.overrides)


@dataclass(frozen=True)
class StandinSettings:
    """The paper rehearsal: stand-ins of the paper's checkpoints, instruction data, CLIP, benchmark
    datasets and SHR documents, written where the profile's own settings point (``hub_cache``,
    ``prefs.instructions`` ...), so the paper profile's code reads them as it reads the real ones."""

    photos: int = 24  # instruction records (one COCO-style JPEG each)
    benchmark_rows: int = 8  # questions per benchmark split
    seed: int = 0
    # around each evaluation (rehearsal/servers.py): a local OpenAI-compatible judge with deterministic
    # judgements, and a stand-in of the submission benchmarks' (MMB-test's) server scoring against the
    # answer keys beside the local datasets
    judge_server: bool = False
    submission_server: bool = False


@dataclass(frozen=True)
class StepResources:
    """What one Slurm job of a step kind asks for."""

    gpus: int = 0
    cpus: int = 1
    mem_gb: int = 8
    time_min: int | None = 60  # None: the profile's estimate for the step's model, with a margin (time_limit_min)
    # Training only: run under ``accelerate launch`` with this config (one process per GPU).
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        for name in ("gpus", "cpus", "mem_gb", "time_min"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "gpus" else 1):
                raise UserError(f"{name} must be {'non-negative' if name == 'gpus' else 'positive'}; got {value}")


def _default_step_resources() -> dict[str, StepResources]:
    """CPU jobs (the mini profiles); the paper profile's YAML asks for GPUs and accelerate."""
    return {
        "world": StepResources(cpus=2, mem_gb=16, time_min=60),
        "sft": StepResources(cpus=1, mem_gb=8, time_min=60),  # a graded base model trains on one thread, as the world's
        "prefs": StepResources(cpus=2, mem_gb=16, time_min=60),
        "diagnose": StepResources(cpus=2, mem_gb=8, time_min=30),
        "scorer": StepResources(cpus=1, mem_gb=8, time_min=60),  # the caption scorer trains on one thread
        "train": StepResources(cpus=2, mem_gb=16, time_min=60),
        "evaluate": StepResources(cpus=2, mem_gb=16, time_min=60),
        "render": StepResources(cpus=1, mem_gb=4, time_min=15),
    }


@dataclass(frozen=True)
class SlurmSettings:
    """``reproduce --launcher slurm``: where the jobs go and what each kind of step asks for."""

    partition: str | None = None
    account: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # further sbatch options, e.g. {qos: high}
    setup: tuple[str, ...] = ()  # shell lines run before each job (module load ..., source .venv/...)
    gpu_memory_gb: float | None = None  # each GPU's memory: the memory plan picks the sharding for it
    # per step kind; a kind not named keeps its default
    steps: dict[str, StepResources] = field(default_factory=_default_step_resources)

    def __post_init__(self) -> None:
        from aspo_repro.orchestration.step_kinds import STEP_KINDS

        unknown = sorted(set(self.steps) - set(STEP_KINDS))
        if unknown:
            raise UserError(f"launch.slurm.steps: unknown step kind(s) {', '.join(unknown)}; "
                            f"known: {', '.join(STEP_KINDS)}")
        object.__setattr__(self, "steps", {**_default_step_resources(), **self.steps})

    def time_limit_min(self, kind: str, estimate_s: float) -> int:
        """A job's time limit: the step kind's ``time_min``, or its estimate with a margin."""
        given = self.steps[kind].time_min
        if given is not None:
            return given
        if estimate_s <= 0:
            raise UserError(f"launch.slurm.steps.{kind}.time_min is not set and the profile has no estimate "
                            f"for {kind} steps: set one of them")
        return max(MIN_TIME_LIMIT_MIN, math.ceil(TIME_LIMIT_MARGIN * estimate_s / 60))


@dataclass(frozen=True)
class LaunchSettings:
    slurm: SlurmSettings = field(default_factory=SlurmSettings)


@dataclass(frozen=True)
class Profile:
    """A profile file's keys (paths relative to the repository until :func:`load_profile` anchors them).
    Its ``prefs:`` and ``evaluate:`` sections are those stages' own configs, less what each job sets."""

    results_profile: str  # "mini" or "paper": the tables' profile
    name: str = field(default="", metadata=SET_PER_JOB)  # the file's stem
    results_root: Path = Path("results")
    tables_dir: Path = Path("tables")
    work_dir: Path | None = None  # preference data and training runs; None: runs/<name>
    world: WorldSettings | None = None
    prefs: PrefsConfig = field(default_factory=PrefsConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    evaluate: EvalSettings = field(default_factory=EvalSettings)
    estimates: dict[str, float] = field(default_factory=dict)  # seconds per step kind, for the plan's cost estimate
    # seconds per model and step kind where a model differs from ``estimates`` (13B against 7B ...);
    # Slurm time limits are made from them where a step kind's time_min is not set
    model_estimates: dict[str, dict[str, float]] = field(default_factory=dict)
    description: str = ""
    launch: LaunchSettings = field(default_factory=LaunchSettings)
    source: Path | None = field(default=None, metadata=SET_PER_JOB)  # the profile file, for jobs that load it again
    hub_cache: Path | None = None  # where paper checkpoints resolve (None: the default Hugging Face cache)
    standins: StandinSettings | None = None
    table_warning: str = ""  # printed under every table's heading
    seeds: int = 1  # training seeds per run when `reproduce --seeds` is not given; tables average over them
    jobs: int = 1  # steps at once on this machine when `reproduce --jobs` is not given (parallel.py)
    # The methods this profile runs, when not every one its tables ask for (a fast subset: mini-smoke);
    # a table's row of another method is rendered as not run. Empty: every one.
    methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from aspo_repro.results import PROFILES, resolve_method

        for name in ("seeds", "jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"{name} must be a positive integer; got {value!r}")
        for method in self.methods:
            resolve_method(method)  # an unknown or non-canonical name fails here, at load time
        if self.results_profile not in PROFILES:
            raise UserError(f"results_profile must be one of {', '.join(PROFILES)} (the tables' columns and "
                            f"models); got {self.results_profile!r}")

    def runs(self, run: RunKey) -> bool:
        """Whether this profile runs ``run`` (its method is among ``methods``, or every method is)."""
        return not self.methods or run.method in self.methods

    def estimate(self, kind: str, model: str | None) -> float:
        """The seconds a step of ``kind`` on ``model`` is expected to take (0 when not estimated)."""
        return self.model_estimates.get(model or "", {}).get(kind, self.estimates.get(kind, 0.0))

    @property
    def world_settings(self) -> WorldSettings:
        """The world's settings; the defaults for a profile without a world (its steps ignore them)."""
        return self.world or WorldSettings()

    @property
    def builds_mini_world(self) -> bool:
        """The mini world is built before anything else."""
        return self.world is not None

    @property
    def world_data_scorer(self) -> str | None:
        """The mini world's scorer (``WORLD_SCORERS``) that scores its preference data; None without a
        world, or where the profile names a CLIP of its own."""
        return self.prefs.data_scorer if self.builds_mini_world and not self.prefs.clip else None

    @property
    def has_world_step(self) -> bool:
        """Something is built before anything else: the mini world, or the rehearsal's stand-ins."""
        return self.world is not None or self.standins is not None

    @staticmethod
    def path(value: str | Path | None) -> Path | None:
        """A path of the profile file: relative ones are relative to the repository."""
        if value is None:
            return None
        path = Path(value)
        return path if path.is_absolute() else REPO_ROOT / path

    def anchored(self) -> Profile:
        """This profile with every path it names made absolute (relative to the repository)."""
        prefs, evaluate, path = self.prefs, self.evaluate, self.path
        instructions = prefs.instructions if prefs.is_mini else str(path(prefs.instructions))
        return dataclasses.replace(
            self,
            results_root=path(self.results_root), tables_dir=path(self.tables_dir),
            work_dir=path(self.work_dir or f"runs/{self.name}"), hub_cache=path(self.hub_cache),
            prefs=dataclasses.replace(prefs, instructions=instructions, image_dir=path(prefs.image_dir)),
            evaluate=dataclasses.replace(evaluate, shr_data=path(evaluate.shr_data),
                                         dataset_dir=path(evaluate.dataset_dir)),
            train=dataclasses.replace(
                self.train,
                accelerate_config=str(path(self.train.accelerate_config)) if self.train.accelerate_config else None,
                accelerate_configs={sharding: str(path(config)) for sharding, config in self.train.accelerate_configs.items()}
                if self.train.accelerate_configs else None),
        )


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise unknown_name("profile", name_or_path, profile_names())
    profile = dataclass_from_mapping(Profile, read_yaml_mapping(path, "profile"), f"profile {path}")
    return dataclasses.replace(profile, name=path.stem, source=path.resolve()).anchored()
