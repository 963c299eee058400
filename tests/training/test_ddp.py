"""A global batch trains alike however it is split: 2 processes (``accelerate launch``, DDP over gloo
on the CPU) with b pairs each, 1 process accumulating 2 micro-batches of b, and 1 process with 2b
pairs give the same loss curve and adapter, the reference log-probs cached by the main process and
read by the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from prefdata import make_rows, save_prefs
from safetensors.torch import load_file

from aspo_repro.rehearsal.checkpoints import Shrink, build_standin

REPO = Path(__file__).resolve().parents[2]
DDP_CONFIG = REPO / "configs" / "accelerate" / "ddp_2cpu.yaml"
TINY = Shrink(layers=1, text_hidden=32, text_heads=2, text_intermediate=64, vision_hidden=16, vision_heads=2,
              vision_intermediate=32, vocab_size=200)


def train(tmp_path: Path, name: str, model: Path, prefs: Path, processes: int, **batch: int) -> Path:
    """Train in ``processes`` processes with the batch settings ``batch`` (global_batch_size, per_device_batch_size)."""
    config = tmp_path / f"{name}.yaml"
    config.write_text("precision: fp32\nmax_steps: 2\nmax_length: 1024\nsave_steps: 10\nlogging_steps: 1\n"
                      "learning_rate: 0.001\n" + "".join(f"{key}: {value}\n" for key, value in batch.items()))
    out = tmp_path / name
    train_args = ["-m", "aspo_repro", "train", "--method", "aspo", "--model", str(model), "--prefs", str(prefs),
                  "--out", str(out), "--config", str(config)]
    launcher = ([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(DDP_CONFIG),
                 "--num_processes", str(processes)] if processes > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run([*launcher, *train_args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return out


@pytest.mark.slow
def test_every_split_of_the_global_batch_trains_alike(tmp_path):
    corpus = [row["prompt"] + " " + row["chosen"] for row in make_rows(40, seed=1, with_similarity=False)]
    model = build_standin("llava-1.5-7b", corpus, tmp_path / "model", TINY)
    prefs = save_prefs(tmp_path / "prefs", make_rows(8, seed=3))

    ddp = train(tmp_path, "ddp", model, prefs, processes=2, global_batch_size=4)
    accumulated = train(tmp_path, "accumulated", model, prefs, processes=1, global_batch_size=4, per_device_batch_size=2)
    single = train(tmp_path, "single", model, prefs, processes=1, global_batch_size=4)

    runs = (ddp, accumulated, single)
    records = {run: json.loads((run / "run.json").read_text()) for run in runs}
    assert records[ddp]["processes"] == {"count": 2, "distributed_type": "MULTI_CPU", "backend": "gloo"}
    assert records[single]["processes"]["count"] == 1
    assert records[ddp]["reference_logps"]["source"] in ("computed", "cache")
    splits = [tuple(records[run]["batch"][key] for key in ("global_batch_size", "processes", "per_device_batch_size",
                                                           "gradient_accumulation_steps")) for run in runs]
    assert splits == [(4, 2, 2, 1), (4, 1, 2, 2), (4, 1, 4, 1)]
    curves = {run: [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
                    if "loss" in json.loads(line)] for run in runs}
    assert len(curves[single]) == 2
    assert curves[single][1] != pytest.approx(curves[single][0], abs=1e-6)  # the first step moved the policy
    adapters = {run: load_file(run / "adapter" / "adapter_model.safetensors") for run in runs}
    for run in (ddp, accumulated):
        assert curves[run] == pytest.approx(curves[single], rel=1e-5, abs=1e-6), run.name
        assert adapters[run].keys() == adapters[single].keys()
        for key, value in adapters[single].items():
            torch.testing.assert_close(adapters[run][key], value, rtol=1e-4, atol=1e-6, msg=f"{run.name}: {key}")
