"""The run directory on its own: ownership by run key, the resume point, publishing outputs."""

import json

import pytest

from aspo_repro.errors import UserError
from aspo_repro.training.run_directory import RunDirectory


def finished(directory: RunDirectory, run_key: str) -> None:
    directory.write_record({"status": "complete", "run_key": run_key, "method": {"name": "dpo"}, "model": {"name": "m"}})


def test_a_finished_run_of_the_same_key_is_found_and_another_refused(tmp_path):
    directory = RunDirectory(tmp_path / "out", "key-a")
    assert directory.finished_record() is None  # nothing there yet
    finished(directory, "key-a")
    assert directory.finished_record()["run_key"] == "key-a"
    with pytest.raises(UserError, match="holds a finished run with other settings \\(method dpo, model m\\)"):
        RunDirectory(directory.path, "key-b").finished_record()


def test_claim_writes_the_key_drops_temporaries_and_incomplete_checkpoints(tmp_path):
    directory = RunDirectory(tmp_path / "out", "key-a")
    (directory.checkpoints / "checkpoint-2").mkdir(parents=True)
    (directory.checkpoints / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (directory.checkpoints / "checkpoint-4").mkdir()  # killed while saving: no trainer_state.json
    (directory.path / ".merged.abc.partial").mkdir()
    (directory.path / ".run.json.x.tmp").write_text("half")
    directory.claim({"method": "dpo"})
    assert json.loads((directory.checkpoints / "run-key.json").read_text()) == {"run_key": "key-a", "method": "dpo"}
    assert directory.resume_point().name == "checkpoint-2"
    assert not (directory.checkpoints / "checkpoint-4").exists()
    assert [p.name for p in directory.path.iterdir()] == ["checkpoints"]
    with pytest.raises(UserError, match="holds an unfinished run with other settings"):
        RunDirectory(directory.path, "key-b").finished_record()


def test_a_damaged_run_key_removes_the_checkpoints_it_cannot_vouch_for(tmp_path):
    directory = RunDirectory(tmp_path / "out", "key-a")
    directory.claim({})
    (directory.checkpoints / "run-key.json").write_text("{not json")
    messages = []
    assert directory.finished_record(messages.append) is None
    assert not directory.checkpoints.exists()
    assert any("removing" in message for message in messages)


def test_strangers_and_files_are_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already holds other files \\(notes.txt\\)"):
        RunDirectory(tmp_path / "out", "k").finished_record()
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file, not a directory"):
        RunDirectory(tmp_path / "file", "k").finished_record()


def test_outputs_are_published_by_rename(tmp_path):
    directory = RunDirectory(tmp_path / "out", "k")
    directory.adapter_staging.mkdir(parents=True)
    (directory.adapter_staging / "adapter_model.safetensors").write_text("new")
    directory.adapter.mkdir()
    (directory.adapter / "old").write_text("old")
    directory.publish_adapter()
    assert [p.name for p in directory.adapter.iterdir()] == ["adapter_model.safetensors"]
    assert not directory.adapter_staging.exists()
    with directory.merged_model() as tmp:
        (tmp / "config.json").write_text("{}")
        assert not (directory.path / "merged").exists()  # not there until complete
    assert (directory.path / "merged" / "config.json").is_file()
    directory.write_metrics([{"step": 1, "loss": 0.69}])
    assert json.loads((directory.path / "metrics.jsonl").read_text()) == {"step": 1, "loss": 0.69}
    directory.remove_checkpoints(keep=True)


def test_a_claimed_directory_is_refused_to_a_second_claim_until_released(tmp_path):
    directory = RunDirectory(tmp_path / "out", "key-a")
    lock = directory.claim({})
    with pytest.raises(UserError, match="another process is writing the training run .*out"):
        RunDirectory(directory.path, "key-a").claim({})
    lock.release()
    directory.claim({}).release()
