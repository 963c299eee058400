import os
import platform
import subprocess
import sys

import pytest

from aspo_repro.child_environment import KEEP_FREED_MEMORY, child_environment

# A child that mallocs, touches and frees a 64 MiB block 20 times; prints the page faults of the last 19.
_ALLOCATE_AND_FREE = """
import ctypes, resource
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
def once():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(19):
    once()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _child_page_faults() -> int:
    done = subprocess.run([sys.executable, "-c", _ALLOCATE_AND_FREE], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_the_values_hold_inside_and_are_gone_after(monkeypatch):
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    with child_environment({"MALLOC_TOP_PAD_": "7"}):
        assert os.environ["MALLOC_TOP_PAD_"] == "7"
    assert "MALLOC_TOP_PAD_" not in os.environ


def test_a_value_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    with child_environment({"OMP_WAIT_POLICY": "PASSIVE"}):
        assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc reads these variables")
def test_a_child_reuses_freed_memory_instead_of_faulting_it_in_again(monkeypatch):
    for name in KEEP_FREED_MEMORY:
        monkeypatch.delenv(name, raising=False)
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert _child_page_faults() >= 19 * pages  # glibc's default: unmapped on free, faulted in again
    with child_environment(KEEP_FREED_MEMORY):
        assert _child_page_faults() < pages // 4
