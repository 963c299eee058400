"""Writing results so that they are never lost and never half-written.

Every file is written to a temporary sibling and renamed into place (rename is atomic on a
POSIX file system), and a directory result is built under a temporary name and renamed when
complete. A crash therefore leaves either the old result, or nothing, never a partial one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# mkstemp/mkdtemp create private (0600/0700) entries; results are meant to be shared like any file.
FILE_MODE, DIRECTORY_MODE = 0o644, 0o755
# The hidden siblings this module writes while a result is incomplete: temporary files and
# directories, a replaced result on its way out, and a directory staged by other code
# (``staging_path``) before ``replace_directory`` publishes it.
TEMPORARY_SUFFIXES = (".tmp", ".partial", ".old", ".staging")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block completes.

    With ``replace=False`` an existing ``path`` is an error (finished work is not overwritten
    by accident); with ``replace=True`` it is swapped out after the new one is complete.
    """
    path = Path(path)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    os.chmod(tmp, DIRECTORY_MODE)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, path)


def staging_path(target: str | os.PathLike) -> Path:
    """Where a directory that another writer fills (a Trainer's ``save_model``) is staged before
    ``replace_directory`` publishes it as ``target``."""
    target = Path(target)
    return target.with_name(f".{target.name}.staging")


def replace_directory(complete: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Make the ``complete`` directory ``target`` by renames, swapping out an old ``target``."""
    complete, target = Path(complete), Path(target)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(complete, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def remove_temporaries(directory: str | os.PathLike) -> None:
    """Remove what a killed writer left of unfinished results directly inside ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for suffix in TEMPORARY_SUFFIXES:
        for stale in directory.glob(f".*{suffix}"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(path: str | os.PathLike, skip: str | None = None) -> str:
    """Content hash of a directory: relative paths and file contents, in sorted order; files whose
    name matches the glob ``skip`` are left out."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not (skip and p.match(skip))):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def stable_hash(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=str).encode())


def try_lock(path: str | os.PathLike):
    """The exclusive lock on ``path`` (a lock file), taken, or None when another process holds it.

    ``release()`` it, or let the process end: the lock goes with the process, however it ends.
    """
    from filelock import Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_class()(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def wait_for_lock(path: str | os.PathLike):
    """The exclusive lock on ``path``, taken when its holder lets go."""
    lock = _lock_class()(str(path))
    lock.acquire()
    return lock


@functools.cache
def _lock_class():
    """filelock's lock of this platform, as a class of its own: lmms-eval's evaluator makes every
    ``filelock.FileLock(path)`` of the process one shared, re-entrant instance, so that after an
    evaluation a second claim of a run directory in the same process would be let through."""
    from filelock import FileLock

    return type("ExclusiveFileLock", (FileLock,), {})


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str, log=None) -> Iterator[None]:
    """Hold the lock on ``path`` (a lock file beside what it guards) for the block, waiting for it.

    Processes that build or write the same thing take the same lock, so that one builds it and
    the others, waiting, then find it done. A wait is announced to ``log`` with what it waits for.
    """
    lock = try_lock(path)
    if lock is None:
        if log is not None:
            log(f"waiting for {what}: another process holds {path}")
        lock = wait_for_lock(path)
    try:
        yield
    finally:
        lock.release()


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file that guards ``target``: a hidden sibling ``.<name>.lock``."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def hold_lock(path: str | os.PathLike, what: str):
    """The lock on ``path``, taken without waiting; a UserError naming ``what`` when another
    process holds it."""
    from aspo_repro.errors import UserError

    lock = try_lock(path)
    if lock is None:
        raise UserError(f"another process is writing {what} (it holds {path}); wait for it to end")
    return lock
