"""Reproduction profiles as typed dataclasses, read from ``configs/profiles/<name>.yaml``.

A profile file says which results profile it fills (``mini`` or ``paper``, the columns and models
of the tables), where its outputs go, and the settings of each stage. ``mini`` is the embedded
default; ``mini-smoke`` is a tiny mini world with tiny budgets (tests and the CI regression check);
``paper`` is the paper's setting on GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aspo_repro.errors import UserError, unknown_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "configs" / "profiles"


@dataclass(frozen=True)
class WorldSettings:
    seed: int = 0
    size: str = "full"


@dataclass(frozen=True)
class PrefsSettings:
    instructions: str = "mini"  # "mini" or a LLaVA-Instruct-150K JSON file
    image_dir: str | None = None
    sample: int | None = None
    seed: int = 0
    limit: int | None = None
    noise_step: int = 500
    max_new_tokens: int = 512
    batch_size: int = 8


@dataclass(frozen=True)
class TrainSettings:
    config: str = "cpu"  # a file of configs/training/ or a path
    seed: int = 42  # replicate k trains with seed + k
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalSettingsSpec:
    benchmarks: str = "mini"  # a benchmark set or a comma-separated list
    limit: int | None = None
    batch_size: int = 32


@dataclass(frozen=True)
class Profile:
    name: str
    results_profile: str  # "mini" or "paper": the tables' profile
    results_root: Path
    tables_dir: Path
    work_dir: Path  # preference data and training runs
    world: WorldSettings | None
    prefs: PrefsSettings
    train: TrainSettings
    evaluate: EvalSettingsSpec
    estimates: dict[str, float]  # seconds per step kind, for the plan's cost estimate
    description: str = ""

    @property
    def needs_world(self) -> bool:
        return self.world is not None


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise unknown_name("profile", name_or_path, profile_names())
    elif not path.is_file():
        raise UserError(f"profile file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return _profile_from_dict(path.stem, data)
    except (TypeError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"malformed profile {path}: {error}") from error


def _profile_from_dict(name: str, data: dict[str, Any]) -> Profile:
    def resolve(value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else REPO_ROOT / path

    world = data.get("world")
    return Profile(
        name=name,
        results_profile=data["results_profile"],
        results_root=resolve(data.get("results_root", "results")),
        tables_dir=resolve(data.get("tables_dir", "tables")),
        work_dir=resolve(data.get("work_dir", f"runs/{name}")),
        world=WorldSettings(**world) if world is not None else None,
        prefs=PrefsSettings(**data.get("prefs", {})),
        train=TrainSettings(**data.get("train", {})),
        evaluate=EvalSettingsSpec(**data.get("evaluate", {})),
        estimates={str(k): float(v) for k, v in data.get("estimates", {}).items()},
        description=data.get("description", ""),
    )
