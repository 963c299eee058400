"""Fixtures of the preference-pipeline tests: tiny random-weight checkpoints and backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefs_helpers import fake_scorer, load_tiny


@pytest.fixture(scope="module")
def tiny_world():
    """The test-sized world in the default cache: the one a ``PrefsConfig(world_size="tiny")`` run
    resolves, so the tests see the pipeline's own world (not the session's, tests/conftest.py)."""
    from aspo_repro.miniworld import build_world

    return build_world(size="tiny", progress=False)


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    from aspo_repro.models.builders import build_random_checkpoint

    return build_random_checkpoint("llava", tmp_path_factory.mktemp("tiny-llava"), seed=0)


@pytest.fixture(scope="session")
def tiny_instructblip_dir(tmp_path_factory) -> Path:
    from aspo_repro.models.builders import build_random_checkpoint

    return build_random_checkpoint("instructblip", tmp_path_factory.mktemp("tiny-instructblip"), seed=0)


@pytest.fixture(scope="session")
def tiny_llava(tiny_llava_dir):
    return load_tiny(tiny_llava_dir)


@pytest.fixture
def tiny_backends(tiny_llava, tiny_llava_dir):
    """Backends of the tiny LLaVA (loaded once per session) and the stand-in CLIP; ``loads``
    counts how often a run asked for the model."""
    from aspo_repro.data import Backends

    loaded = []

    def load_model():
        loaded.append(True)
        return tiny_llava

    backends = Backends(load_model=load_model, load_scorer=lambda: fake_scorer,
                        describe_model=lambda: {"directory": str(tiny_llava_dir)},
                        describe_clip=lambda: {"clip": "fake"})
    backends.loads = loaded
    return backends
