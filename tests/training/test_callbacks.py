"""A run's Trainer callbacks: TensorBoard when asked for, and the plugins' (entry points)."""

import textwrap

from aspo_repro.training.callbacks import PLUGIN_GROUP, run_callbacks


def install_plugin(directory, module_source: str) -> None:
    """A distribution on ``directory`` whose entry points name ``plugin_module``'s two factories."""
    info = directory / "example_plugin-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: example-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        f"[{PLUGIN_GROUP}]\nb_marker = plugin_module:marker\na_nothing = plugin_module:nothing\n"
    )
    (directory / "plugin_module.py").write_text(textwrap.dedent(module_source))


def test_plugins_add_their_callbacks_and_none_adds_nothing(tmp_path, monkeypatch):
    assert run_callbacks(None) == []
    install_plugin(tmp_path, """
        from transformers import TrainerCallback

        class Marker(TrainerCallback):
            pass

        def marker():
            return Marker()

        def nothing():
            return None
    """)
    monkeypatch.syspath_prepend(tmp_path)
    callbacks = run_callbacks(tmp_path / "tensorboard")
    assert [type(callback).__name__ for callback in callbacks] == ["TensorBoardCallback", "Marker"]
    assert (tmp_path / "tensorboard").is_dir()
