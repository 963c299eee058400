"""The repository's committed references (``results/``, ``tables/``) name a commit anyone can check
out: they are written only from a clean checkout, unless the user says otherwise.

A result or table written into them from a checkout with uncommitted changes would record
``<commit>-dirty``, a state nobody else can reproduce. Everything else (a temporary directory, a
work directory, ``--results`` elsewhere) is written from any checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.repository import REPO_ROOT

ALLOW_DIRTY_ENV = "ASPO_ALLOW_DIRTY_REFERENCE"
REFERENCE_DIRS = ("results", "tables")


def is_reference(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies in one of the repository's reference directories."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to((REPO_ROOT / name).resolve()) for name in REFERENCE_DIRS)


def check_reference_write(path: str | os.PathLike, revision: str | None = None) -> None:
    """Refuse to write ``path`` into a reference directory from a checkout with uncommitted changes
    (``revision``: the checkout's, as provenance records it; looked up when not given)."""
    if not is_reference(path) or os.environ.get(ALLOW_DIRTY_ENV) == "1":
        return
    if revision is None:
        from aspo_repro.provenance import git_revision

        revision = git_revision(REPO_ROOT)
    if revision is not None and revision.endswith("-dirty"):
        raise UserError(f"{path} is a committed reference (the repository's {'/, '.join(REFERENCE_DIRS)}/), and this "
                        f"checkout has uncommitted changes ({revision}): commit them, write elsewhere "
                        f"(--results/--tables-dir), or set {ALLOW_DIRTY_ENV}=1")
