"""``world`` and ``models`` on the command line."""

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


def test_world_build_and_info(tiny_world, capsys):
    cache_dir = str(tiny_world.root.parents[1])
    assert main(["world", "build", "--size", "tiny", "--cache-dir", cache_dir, "--quiet"]) == 0
    assert str(tiny_world.root) in capsys.readouterr().out
    assert main(["world", "info", "--size", "tiny", "--cache-dir", cache_dir, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info["stages"].values()) == {"ok"}
    assert info["data"]["mini_shr"] == 4


def test_world_info_of_an_unbuilt_world(tmp_path, capsys):
    assert main(["world", "info", "--size", "tiny", "--cache-dir", str(tmp_path)]) == 0
    assert "not built: run `python -m aspo_repro world build`" in capsys.readouterr().out


def test_world_rejects_bad_sizes_and_seeds(tmp_path, capsys):
    assert main(["world", "build", "--size", "huge", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown world size 'huge'; known world sizes: full, tiny" in capsys.readouterr().err
    assert main(["world", "info", "--seed", "-3", "--cache-dir", str(tmp_path)]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err
