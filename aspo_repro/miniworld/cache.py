"""Content-addressed cache stages: built atomically, verified before every use, rebuilt if damaged.

A stage is a directory (the world's data, one base model, the CLIP) built into a temporary
directory and renamed into place (``storage.atomic_directory``). Its last file,
``manifest.json``, records the hash of the stage's inputs and the sha256 of every file.
:func:`ensure_stage` reuses a stage only when the manifest is there, its inputs match and
every file is present with its recorded hash; anything else (an interrupted copy, a deleted
or truncated file, a stale input) is reported and rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tqdm.auto import tqdm

from aspo_repro import provenance
from aspo_repro.repository import REPO_ROOT
from aspo_repro.storage import atomic_directory, sha256_file, stable_hash

MANIFEST = "manifest.json"
RECORD = "build_record.json"
ENV_CACHE_DIR = "ASPO_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$ASPO_CACHE_DIR``, else ``<repository>/.cache/aspo``."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured).expanduser()
    return REPO_ROOT / ".cache" / "aspo"


def file_hashes(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def write_manifest(directory: Path, inputs_hash: str) -> str:
    """Hash every file of ``directory`` into its manifest; returns the stage fingerprint."""
    files = file_hashes(directory)
    # The build record holds times and versions: verified like every file, but left out of the
    # fingerprint, so equal content gives equal fingerprints.
    content = {name: digest for name, digest in files.items() if name != RECORD}
    fingerprint = stable_hash({"inputs": inputs_hash, "files": content})
    manifest = {"inputs": inputs_hash, "fingerprint": fingerprint, "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return fingerprint


def verify_stage(directory: Path, inputs_hash: str) -> tuple[str | None, str]:
    """(fingerprint, "ok") for a complete, intact stage; (None, what is wrong) otherwise."""
    if not directory.exists():
        return None, "missing"
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files, fingerprint = manifest["files"], manifest["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, "no readable manifest (partial or interrupted build)"
    if manifest.get("inputs") != inputs_hash:
        return None, "built from other inputs"
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            return None, f"file {name} is missing"
        if sha256_file(path) != digest:
            return None, f"file {name} is corrupted (content hash differs)"
    return fingerprint, "ok"


def ensure_stage(directory: Path, inputs: dict, build: Callable[[Path], dict], *, what: str,
                 progress: bool = True) -> str:
    """The fingerprint of a valid stage at ``directory``, building it with ``build(tmp_dir)``
    (which returns a JSON record, stored with provenance) when it is missing or damaged."""
    inputs_hash = stable_hash(inputs)
    fingerprint, reason = verify_stage(directory, inputs_hash)
    if fingerprint is not None:
        return fingerprint
    if reason != "missing":
        _say(f"rebuilding {what}: {reason}", progress)
    else:
        _say(f"building {what}", progress)
    with atomic_directory(directory, replace=True) as tmp:
        record = build(tmp)
        record = {"what": what, "inputs": inputs, "record": record, "provenance": provenance.provenance()}
        (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
        fingerprint = write_manifest(tmp, inputs_hash)
    return fingerprint


# ----------------------------------------------------------------------------- stages beside a world
# What is made from a built world on first use (a scorer, a graded base model) is kept beside it, not
# in it: a world's build clears what it does not know in its own directory.

def beside_world(world, kind_dir: str, name: str) -> Path:
    """``<cache>/<kind_dir>/<world dir name>/<name>``: where a stage made from ``world`` is kept."""
    return world.root.parent.parent / kind_dir / world.root.name / name


def stage_fingerprint(stage: Path) -> str:
    """The fingerprint a built stage's manifest records."""
    return json.loads((stage / MANIFEST).read_text())["fingerprint"]


def built_beside(directory: Path, inputs: Callable[[], dict], reads: Iterable[Path]) -> bool:
    """Whether the stage at ``directory`` is complete, intact and made from ``inputs()``; False while a
    stage it ``reads`` (whose fingerprints ``inputs`` names) is not built."""
    if not all((stage / MANIFEST).is_file() for stage in reads):
        return False
    return verify_stage(directory, stable_hash(inputs()))[0] is not None


def ensure_beside(directory: Path, inputs: dict, build: Callable[[Path], dict], *, what: str,
                  progress: bool = True) -> Path:
    """``directory``, its stage built by ``build`` unless it is there (``ensure_stage``), under a lock
    beside it, so that two processes needing it build it once."""
    with exclusive_lock(directory.parent / f".{directory.name}.lock"):
        ensure_stage(directory, inputs, build, what=what, progress=progress)
    return directory


def remove_abandoned_builds(root: Path) -> None:
    """Delete the temporary directories of builds that were killed before they finished (call
    while holding the world's lock, when no build of it can be running)."""
    for pattern in (".*.partial", "*/.*.partial", ".*.old", "*/.*.old"):
        for path in root.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def _say(message: str, progress: bool) -> None:
    if progress:
        tqdm.write(f"[world] {message}", file=sys.stderr)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (so two processes never build the same world at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no inter-process lock, atomic renames still keep stages whole
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
