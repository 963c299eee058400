"""What the processes that do CPU work side by side (the world's workers, ``reproduce``'s step pool) find
in their environment. A variable the user set keeps the user's value.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

# glibc's malloc hands a freed block of 128 KiB or more back to the kernel (unmapping it, or trimming the
# heap's top), so the tensors torch allocates and frees at every training step come back as fresh pages the
# kernel must fault in and zero again. Kept in the heap, they are reused: the caption scorer's first 120
# steps took 28.0 s instead of 34.6 (and 25.6 instead of 29.4 when repeated), with a ninth of the page
# faults and the same weights bit for bit (docs/miniworld.md, "What it must show"). Only for CPU work:
# a process that loads a large model on the host and moves it to a GPU would keep that memory.
# Other C libraries ignore these names.
KEEP_FREED_MEMORY = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(16 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}

# OpenMP's threads sleep when idle: two processes whose threads spin while waiting for work take the cores
# from each other (two mini trainings side by side: 130 s each, against 18).
SLEEPING_OPENMP = {"OMP_WAIT_POLICY": "PASSIVE"}


@contextlib.contextmanager
def child_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` (each unless already set) for the processes started inside; as before
    after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if before[name] is None})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
