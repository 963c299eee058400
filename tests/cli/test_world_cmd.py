"""``world`` on the command line."""

import json

from aspo_repro.cli import main


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
