import os
import stat

import pytest

from aspo_repro.storage import atomic_directory, atomic_write_json, atomic_write_text, sha256_tree


def test_atomic_write_leaves_a_readable_file_and_no_temporaries(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert path.read_text() == "hello"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(path.parent) == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = atomic_write_json(tmp_path / "r.json", {"v": 1})

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(path, {"v": 2})
    monkeypatch.undo()
    assert path.read_text().strip().endswith("}") and '"v": 1' in path.read_text()
    assert os.listdir(tmp_path) == ["r.json"]


def test_atomic_directory_appears_only_when_complete(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "part").write_text("x")
        raise RuntimeError("crash")
    assert not target.exists() and os.listdir(tmp_path) == []
    with atomic_directory(target) as tmp:
        (tmp / "done").write_text("y")
    assert (target / "done").read_text() == "y"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
    with pytest.raises(FileExistsError):
        with atomic_directory(target):
            pass
    before = sha256_tree(target)
    with atomic_directory(target, replace=True) as tmp:
        (tmp / "done").write_text("z")
    assert sha256_tree(target) != before and (target / "done").read_text() == "z"


def test_a_held_lock_is_refused_naming_what_it_guards(tmp_path):
    import subprocess
    import sys

    from aspo_repro.errors import UserError
    from aspo_repro.storage import hold_lock, lock_path

    path = lock_path(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from aspo_repro.storage import hold_lock\n"
                               "lock = hold_lock(sys.argv[1], 'x'); print('held', flush=True); time.sleep(30)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="another process is writing the run"):
            hold_lock(path, "the run")
    finally:
        holder.kill()
        holder.wait()
    hold_lock(path, "the run").release()  # free once its holder is gone


def test_a_held_lock_is_not_taken_again_in_the_same_process_after_an_evaluation():
    """lmms-eval's evaluator patches filelock so that ``FileLock(path)`` is one re-entrant instance per
    path in the process; the project's locks must still exclude a second holder."""
    import lmms_eval.evaluator

    from aspo_repro.storage import try_lock

    lmms_eval.evaluator._enable_reentrant_filelocks()
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        first = try_lock(f"{directory}/.x.lock")
        assert first is not None
        assert try_lock(f"{directory}/.x.lock") is None
        first.release()
        again = try_lock(f"{directory}/.x.lock")
        assert again is not None
        again.release()
