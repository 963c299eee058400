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


def test_world_build_makes_a_scorer_beside_the_world_when_asked(tiny_world, tmp_path, capsys):
    import shutil

    import pytest

    from aspo_repro.miniworld import locate_world
    from aspo_repro.miniworld.judge_trained import judge_trained_scorer_built

    shutil.copytree(tiny_world.root, tmp_path / "worlds" / tiny_world.root.name)
    world = locate_world(0, tmp_path, "tiny")
    assert not judge_trained_scorer_built(world)
    assert main(["world", "build", "--size", "tiny", "--cache-dir", str(tmp_path), "--quiet",
                 "--scorer", "judge-trained"]) == 0
    assert judge_trained_scorer_built(world)
    with pytest.raises(SystemExit) as exit_info:
        main(["world", "build", "--size", "tiny", "--cache-dir", str(tmp_path), "--scorer", "oracle"])
    assert exit_info.value.code == 2 and "invalid choice: 'oracle'" in capsys.readouterr().err
