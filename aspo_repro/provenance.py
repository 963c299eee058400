"""Provenance recorded beside every result: what ran, on what, with which versions."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = (
    "aspo-repro",
    "torch",
    "torchvision",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "tokenizers",
    "open_clip_torch",
    "diffusers",
    "pysbd",
    "pandas",
    "lmms_eval",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


REFERENCE_PATHSPECS = (":(top,exclude)results", ":(top,exclude)tables")


def git_revision(path: str | os.PathLike | None = None) -> str | None:
    """The checkout's commit, with ``-dirty`` when it has uncommitted changes (other than to the
    generated references, ``results/`` and ``tables/``); None outside git."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        # generated outputs (the committed references) do not make the code another revision
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *REFERENCE_PATHSPECS],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def hardware() -> dict[str, object]:
    info: dict[str, object] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        # The math kernels follow the CPU's instruction set; trained weights follow the kernels.
        info["cpu"] = cpu_model()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


@lru_cache(maxsize=1)
def cpu_model() -> str | None:
    """The CPU's model name and family/model numbers (Linux), e.g. 'Intel(R) Xeon(R) Processor (6/207)'."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()[:30]  # the first CPU's entry
    except OSError:
        return platform.processor() or None
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    name = fields.get("model name", "unknown CPU")
    return f"{name} ({fields.get('cpu family', '?')}/{fields.get('model', '?')})"


def provenance() -> dict[str, object]:
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "packages": package_versions(),
        "hardware": hardware(),
    }
