"""One ``reproduce`` at a time per work directory.

Two ``reproduce`` commands on one work directory would run the same steps twice and race on
their outputs. The first takes ``<work_dir>/.reproduce.lock`` and writes who it is beside it; a
second says which command holds it and exits 2, or, asked to ``--wait``, waits and then finds the
first one's work done. The lock goes with the process, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.files import read_record
from aspo_repro.storage import atomic_write_json, try_lock, wait_for_lock

LOCK = ".reproduce.lock"
OWNER = ".reproduce.owner.json"


@contextlib.contextmanager
def exclusive_work_dir(work_dir: Path, command: str, wait: bool = False, log=print) -> Iterator[None]:
    lock = try_lock(work_dir / LOCK)
    if lock is None:
        holder = describe_holder(work_dir)
        if not wait:
            raise UserError(
                f"another reproduce is running on {work_dir}: {holder}; wait for it to end, "
                "or pass --wait to start when it does"
            )
        log(f"waiting for the other reproduce on {work_dir} to end: {holder}")
        lock = wait_for_lock(work_dir / LOCK)
    try:
        atomic_write_json(work_dir / OWNER, {
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })
        yield
    finally:
        (work_dir / OWNER).unlink(missing_ok=True)
        lock.release()


def describe_holder(work_dir: Path) -> str:
    owner = read_record(work_dir / OWNER, "reproduce owner record")
    if owner is None:
        return "a process that has not said who it is yet"
    return f"pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('started')}: `{owner.get('command')}`"
