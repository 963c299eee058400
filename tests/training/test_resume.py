"""Kill a training process after a checkpoint, start it again: same adapter as an uninterrupted run.

The kill is the tests' Trainer-callback plugin (``fault_injection/kill_at_step.py``), armed in
the killed process's environment only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from train_helpers import FAST

from aspo_repro.cli import main
from aspo_repro.training import load_train_config, train

STEPS = 4
KILL_PLUGIN = Path(__file__).resolve().parent / "fault_injection"


def cli(model_dir, prefs_dir, out, config_path, environ=os.environ):
    env = {**environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "aspo_repro",
        "train",
        "--method",
        "aspo",
        "--model",
        str(model_dir),
        "--prefs",
        str(prefs_dir),
        "--out",
        str(out),
        "--config",
        str(config_path),
        "--max-steps",
        str(STEPS),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def adapter_tensors(out):
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_adapter(tmp_path, llava_dir, prefs_dir, capsys, monkeypatch):
    monkeypatch.syspath_prepend(KILL_PLUGIN)  # the kill plugin, also found (unarmed) by the run in this process
    from kill_at_step import armed_environment

    config_path = tmp_path / "resume.yaml"
    config_path.write_text(yaml.safe_dump({**FAST, "save_steps": 2}))
    killed_out = tmp_path / "killed"

    killed = cli(llava_dir, prefs_dir, killed_out, config_path, armed_environment(3))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (killed_out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (killed_out / "run.json").exists() and not (killed_out / "adapter").exists()

    resumed = cli(llava_dir, prefs_dir, killed_out, config_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from checkpoint-2" in resumed.stderr
    record = json.loads((killed_out / "run.json").read_text())
    assert record["resumed_from_step"] == 2 and record["steps"] == STEPS
    assert not (killed_out / "checkpoints").exists()

    whole_out = tmp_path / "whole"
    config = load_train_config(config_path).with_overrides(max_steps=STEPS)
    train("aspo", str(llava_dir), prefs_dir, whole_out, config, log=lambda _: None)
    whole, resumed_adapter = adapter_tensors(whole_out), adapter_tensors(killed_out)
    assert whole.keys() == resumed_adapter.keys() and whole
    for name in whole:
        assert (whole[name] == resumed_adapter[name]).all(), name
    metrics = [json.loads(line) for line in (killed_out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in metrics] == [1, 2, 3, 4]

    args = [
        "train",
        "--method",
        "aspo",
        "--model",
        str(llava_dir),
        "--prefs",
        str(prefs_dir),
        "--out",
        str(killed_out),
        "--config",
        str(config_path),
        "--max-steps",
        str(STEPS),
    ]
    assert main(args) == 0
    assert "skipped:" in capsys.readouterr().err
