"""Data parallelism is the same training: 2 processes (``accelerate launch``, DDP over gloo on the
CPU) with b pairs each give the loss curve and the adapter of 1 process with 2b pairs, the
reference log-probs cached by the main process and read by the other."""

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


def train(tmp_path: Path, name: str, model: Path, prefs: Path, batch: int, processes: int) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"precision: fp32\nper_device_batch_size: {batch}\nmax_steps: 2\nmax_length: 1024\n"
                      "save_steps: 10\nlogging_steps: 1\nlearning_rate: 0.001\n")
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
def test_two_processes_train_as_one_with_twice_the_batch(tmp_path):
    corpus = [row["prompt"] + " " + row["chosen"] for row in make_rows(40, seed=1, with_similarity=False)]
    model = build_standin("llava-1.5-7b", corpus, tmp_path / "model", TINY)
    prefs = save_prefs(tmp_path / "prefs", make_rows(8, seed=3))

    ddp = train(tmp_path, "ddp", model, prefs, batch=2, processes=2)
    single = train(tmp_path, "single", model, prefs, batch=4, processes=1)

    records = {run: json.loads((run / "run.json").read_text()) for run in (ddp, single)}
    assert records[ddp]["processes"] == {"count": 2, "distributed_type": "MULTI_CPU", "backend": "gloo"}
    assert records[single]["processes"]["count"] == 1
    assert records[ddp]["reference_logps"]["source"] in ("computed", "cache")
    curves = {run: [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
                    if "loss" in json.loads(line)] for run in (ddp, single)}
    assert len(curves[ddp]) == 2
    assert curves[ddp] == pytest.approx(curves[single], rel=1e-5, abs=1e-6)
    assert curves[ddp][1] != pytest.approx(curves[ddp][0], abs=1e-6)  # the first step moved the policy
    adapters = {run: load_file(run / "adapter" / "adapter_model.safetensors") for run in (ddp, single)}
    assert adapters[ddp].keys() == adapters[single].keys()
    for key, value in adapters[single].items():
        torch.testing.assert_close(adapters[ddp][key], value, rtol=1e-4, atol=1e-6)
