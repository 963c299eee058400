"""``models`` on the command line."""

import json

from aspo_repro.cli import main


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("llava-1.5-7b", "llava-1.5-13b", "instructblip-13b", "mini-llava-s", "mini-llava-m", "mini-instructblip"):
        assert name in out
    assert "1024/2048" in out and "llava-hf/llava-1.5-7b-hf" in out
    assert main(["models", "--profile", "mini", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["mini-llava-s", "mini-llava-m", "mini-instructblip"]
    assert rows[0]["lora"]["r"] == 32


def test_models_rejects_an_unknown_profile(capsys):
    assert main(["models", "--profile", "gpu"]) == 2
    assert "unknown profile 'gpu'; known profiles: mini, paper" in capsys.readouterr().err
