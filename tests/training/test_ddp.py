"""A global batch trains alike however it is split and sharded: 2 processes (``accelerate launch``,
DDP over gloo on the CPU) with b pairs each, 1 process accumulating 2 micro-batches of b, 1 process
with 2b pairs, and 2 processes under DeepSpeed ZeRO-2 and ZeRO-3 (DeepSpeed's CPU accelerator, the
project's own accelerate configs) give the same loss curve, adapter and merged model; the reference
log-probs are computed by the processes together, written once and read by every later run."""

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
CONFIGS = REPO / "configs" / "accelerate"
TINY = Shrink(layers=1, text_hidden=32, text_heads=2, text_intermediate=64, vision_hidden=16, vision_heads=2,
              vision_intermediate=32, vocab_size=200)


def train(tmp_path: Path, name: str, model: Path, prefs: Path, processes: int, accelerate_config: str = "ddp_2cpu",
          **settings: int | str) -> Path:
    """Train in ``processes`` processes with the training settings ``settings`` (global_batch_size, ...)."""
    config = tmp_path / f"{name}.yaml"
    config.write_text("precision: fp32\nmax_steps: 2\nmax_length: 1024\nsave_steps: 10\nlogging_steps: 1\n"
                      "learning_rate: 0.001\n" + "".join(f"{key}: {value}\n" for key, value in settings.items()))
    out = tmp_path / name
    train_args = ["-m", "aspo_repro", "train", "--method", "aspo", "--model", str(model), "--prefs", str(prefs),
                  "--out", str(out), "--config", str(config)]
    launcher = ([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                 str(CONFIGS / f"{accelerate_config}.yaml"), "--num_processes", str(processes)]
                if processes > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "DS_ACCELERATOR": "cpu"}
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
    # each computes the reference log-probs afresh (a cache directory of its own), sharded
    zero2, zero3 = (train(tmp_path, stage, model, prefs, processes=2, accelerate_config=f"{stage}_2cpu",
                          global_batch_size=4, reference_cache_dir=str(tmp_path / f"{stage}-reference"))
                    for stage in ("zero2", "zero3"))

    runs = (ddp, accumulated, single, zero2, zero3)
    records = {run: json.loads((run / "run.json").read_text()) for run in runs}
    assert records[ddp]["processes"] == {"count": 2, "distributed_type": "MULTI_CPU", "backend": "gloo"}
    assert records[single]["processes"]["count"] == 1
    assert records[ddp]["reference_logps"]["source"] == "computed"
    assert [records[run]["reference_logps"]["source"] for run in (accumulated, single)] == ["cache", "cache"]
    for run in (zero2, zero3):
        assert records[run]["processes"] == {"count": 2, "distributed_type": "DEEPSPEED", "backend": "gloo"}
        assert records[run]["reference_logps"]["source"] == "computed", run.name
        assert_same_tensors(load_file(records[run]["reference_logps"]["file"]),
                            load_file(records[ddp]["reference_logps"]["file"]), run.name)
    splits = [tuple(records[run]["batch"][key] for key in ("global_batch_size", "processes", "per_device_batch_size",
                                                           "gradient_accumulation_steps")) for run in runs]
    assert splits == [(4, 2, 2, 1), (4, 1, 2, 2), (4, 1, 4, 1), (4, 2, 2, 1), (4, 2, 2, 1)]
    curves = {run: [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
                    if "loss" in json.loads(line)] for run in runs}
    assert len(curves[single]) == 2
    assert curves[single][1] != pytest.approx(curves[single][0], abs=1e-6)  # the first step moved the policy
    for run in (ddp, accumulated, zero2, zero3):
        assert curves[run] == pytest.approx(curves[single], rel=1e-5, abs=1e-6), run.name
        assert_same_tensors(load_file(run / "adapter" / "adapter_model.safetensors"),
                            load_file(single / "adapter" / "adapter_model.safetensors"), run.name)
        assert_same_tensors(load_file(run / "merged" / "model.safetensors"), load_file(single / "merged" / "model.safetensors"),
                            run.name)


def assert_same_tensors(actual: dict, expected: dict, name: str) -> None:
    assert actual.keys() == expected.keys(), name
    for key, value in expected.items():
        assert actual[key].dtype == value.dtype, f"{name}: {key}"
        torch.testing.assert_close(actual[key], value, rtol=1e-4, atol=1e-6, msg=f"{name}: {key}")
