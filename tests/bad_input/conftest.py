"""Real files to damage: a preference directory written by the SeVa pipeline (on a tiny random-weight
LLaVA), the run directory of a real training run on it, and the committed smoke results."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from corruptions import SMOKE_RESULTS

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "data"))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from aspo_repro.models.builders import build_random_checkpoint

    return build_random_checkpoint("llava", tmp_path_factory.mktemp("bad-input-model"), seed=0)


@pytest.fixture(scope="session")
def real_prefs(tmp_path_factory, model_dir) -> Path:
    """``prefs`` output: eight LLaVA-Instruct-style records answered by the tiny model."""
    from prefs_helpers import fake_scorer, load_tiny, write_source

    from aspo_repro.data import Backends, PrefsConfig, build_preferences

    root = tmp_path_factory.mktemp("bad-input-prefs")
    json_path, image_dir = write_source(root / "source", 8)
    tiny = load_tiny(model_dir)
    config = PrefsConfig(model=str(model_dir), instructions=str(json_path), image_dir=image_dir,
                         out=root / "prefs", batch_size=4, max_new_tokens=12, shard_size=4, progress=False)
    result = build_preferences(config, Backends(load_model=lambda: tiny, load_scorer=lambda: fake_scorer))
    assert result.manifest["counts"]["kept"] >= 2, "the damage tests need a few real pairs"
    return config.out


@pytest.fixture(scope="session")
def real_run(tmp_path_factory, model_dir, real_prefs) -> Path:
    """The run directory of one real DPO step on ``real_prefs``."""
    from aspo_repro.training import TrainConfig, train

    out = tmp_path_factory.mktemp("bad-input-run") / "run"
    # the mini LLaVAs' global batch: its record passes for a mini-smoke run's (Stages.is_done compares it)
    train("dpo", str(model_dir), real_prefs, out,
          TrainConfig(max_steps=1, global_batch_size=10, per_device_batch_size=2, lora_r=4, lora_alpha=8, max_length=512),
          log=lambda line: None)
    assert (out / "run.json").is_file()
    return out


@pytest.fixture
def smoke_results(tmp_path) -> Path:
    """A copy of the committed smoke reference results (real eval.json files)."""
    return Path(shutil.copytree(SMOKE_RESULTS, tmp_path / "results"))
