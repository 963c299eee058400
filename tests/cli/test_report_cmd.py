"""``report``'s bad input: one line, exit 2."""

import subprocess
import sys


def report(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aspo_repro", "report", *args], capture_output=True, text=True, cwd=cwd)


def test_an_unknown_profile_is_one_line_and_exit_2(tmp_path):
    done = report("--profile", "no-such-profile", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no-such-profile" in done.stderr


def test_no_results_is_one_line_naming_the_way_out(tmp_path):
    done = report("--results", str(tmp_path / "empty"), "--out", str(tmp_path / "site"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no results under" in done.stderr and "reproduce" in done.stderr
    assert not (tmp_path / "site").exists()


def test_a_count_must_be_positive(tmp_path):
    done = report("--pairs", "0", cwd=tmp_path)
    assert done.returncode == 2 and "--pairs must be a positive integer" in done.stderr
