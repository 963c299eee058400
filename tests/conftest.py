import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """The test-sized world, built once per session in the session's own cache, for every test folder."""
    from aspo_repro.miniworld import build_world

    return build_world(seed=0, cache_dir=tmp_path_factory.getbasetemp() / "aspo-cache", size="tiny", progress=False)
