import os

from aspo_repro.child_environment import KEEP_FREED_MEMORY, SLEEPING_OPENMP
from aspo_repro.orchestration.parallel import StepPool


def test_the_step_pools_workers_start_with_sleeping_openmp_and_malloc_keeping_freed_memory(monkeypatch):
    wanted = {**SLEEPING_OPENMP, **KEEP_FREED_MEMORY}
    for name in wanted:
        monkeypatch.delenv(name, raising=False)
    with StepPool(1):
        assert {name: os.environ.get(name) for name in wanted} == wanted
    assert not any(name in os.environ for name in wanted)
