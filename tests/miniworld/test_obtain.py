import os

from aspo_repro.child_environment import KEEP_FREED_MEMORY
from aspo_repro.miniworld import build, obtain


def test_the_worlds_workers_start_with_malloc_keeping_freed_memory(monkeypatch, tmp_path):
    for name in KEEP_FREED_MEMORY:
        monkeypatch.delenv(name, raising=False)
    seen = {}

    def build_world(*args, **kwargs):
        seen.update({name: os.environ.get(name) for name in KEEP_FREED_MEMORY})
        return "built"

    monkeypatch.setattr(build, "build_world", build_world)
    assert obtain.obtain_world(cache_dir=tmp_path, size="tiny", log=lambda line: None) == "built"
    assert seen == KEEP_FREED_MEMORY
    assert not any(name in os.environ for name in KEEP_FREED_MEMORY)
