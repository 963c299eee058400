"""Where the repository's own files are (configs, docs, baselines, the cache): one place for every module."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def in_repository(value: str | Path) -> Path:
    """``value`` as a path: relative ones are relative to the repository."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path
