import pytest

from aspo_repro.miniworld import build_world


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """The test-sized world, built once per session (other test folders reuse the same cache)."""
    return build_world(seed=0, cache_dir=tmp_path_factory.getbasetemp() / "aspo-cache", size="tiny", progress=False)
