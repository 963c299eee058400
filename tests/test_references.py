"""A committed reference (the repository's results/ and tables/) is written only from a clean checkout."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.references import ALLOW_DIRTY_ENV, check_reference_write, is_reference
from aspo_repro.repository import REPO_ROOT
from aspo_repro.results import EvalResult, RunKey


def test_only_the_repositorys_results_and_tables_are_references(tmp_path):
    assert is_reference(REPO_ROOT / "results" / "mini" / "x" / "eval.json")
    assert is_reference(REPO_ROOT / "tables")
    assert not is_reference(tmp_path / "results" / "eval.json")
    assert not is_reference(REPO_ROOT / "runs" / "mini")


def test_a_dirty_checkout_cannot_write_a_reference(monkeypatch):
    monkeypatch.delenv(ALLOW_DIRTY_ENV, raising=False)
    with pytest.raises(UserError, match="uncommitted changes .*abc-dirty.*ASPO_ALLOW_DIRTY_REFERENCE=1"):
        check_reference_write(REPO_ROOT / "results" / "smoke" / "eval.json", "abc-dirty")
    check_reference_write(REPO_ROOT / "results" / "smoke" / "eval.json", "abc")  # clean: allowed
    monkeypatch.setenv(ALLOW_DIRTY_ENV, "1")
    check_reference_write(REPO_ROOT / "results" / "smoke" / "eval.json", "abc-dirty")  # told


def test_the_result_store_refuses_before_writing(monkeypatch):
    monkeypatch.delenv(ALLOW_DIRTY_ENV, raising=False)
    path = REPO_ROOT / "results" / "mini" / "never-written" / "eval.json"
    result = EvalResult(RunKey("mini", "mini-llava-s", "dpo"), {}, {"git_revision": "abc-dirty"})
    with pytest.raises(UserError, match="committed reference"):
        result.save(path)
    assert not path.parent.exists()


def test_regenerating_the_references_does_not_make_the_checkout_dirty(tmp_path):
    """Rendering several tables in one command writes the first before the next: a change under
    results/ or tables/ must not turn the revision the next one records into ``-dirty``."""
    import subprocess

    from aspo_repro.provenance import git_revision

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for name in ("code.py", "results/r.json", "tables/t.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    (tmp_path / "results" / "r.json").write_text("2\n")
    (tmp_path / "tables" / "t.md").write_text("2\n")
    assert not git_revision(tmp_path).endswith("-dirty")
    (tmp_path / "code.py").write_text("2\n")
    assert git_revision(tmp_path).endswith("-dirty")
