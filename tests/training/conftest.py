"""Fixtures of the training tests: tiny models saved like real checkpoints, and preference data.

The model sources are fixtures, so that the tiny test models can be swapped for the mini world's
models (``mini-llava-s``, ``mini-instructblip``) in one place.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from prefdata import make_rows, save_prefs  # noqa: E402
from tiny_models import save_tiny_instructblip, save_tiny_llava  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train several times faster on one thread than on two contended ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory):
    return save_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="session")
def instructblip_dir(tmp_path_factory):
    return save_tiny_instructblip(tmp_path_factory.mktemp("tiny-instructblip"))


@pytest.fixture(scope="session", params=["llava", "instructblip"])
def model_dir(request):
    return request.getfixturevalue(f"{request.param}_dir")


@pytest.fixture(scope="session")
def prefs_dir(tmp_path_factory):
    """Eight pairs with multi-sentence chosen responses, spans and similarities."""
    return save_prefs(tmp_path_factory.mktemp("prefs") / "prefs", make_rows(8))


@pytest.fixture(scope="session")
def single_sentence_prefs_dir(tmp_path_factory):
    return save_prefs(
        tmp_path_factory.mktemp("prefs1") / "prefs", make_rows(8, sentences=(1, 1), seed=1)
    )
