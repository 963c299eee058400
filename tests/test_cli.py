"""The command line as a user meets it: subprocesses, exit codes and messages."""

import json
import subprocess
import sys

import pytest


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aspo_repro", *args], capture_output=True, text=True, timeout=120)


def test_help_teaches_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "methods" in result.stdout


def test_methods_lists_the_registry():
    result = run_cli("methods")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "loss", "granularity", "alpha", "norm", "ppl"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"dpo", "aspo", "aspo-s", "aspo-p", "aspo-response", "aspo-token", "aspo-oracle"}
    assert rows["aspo"][1:4] == ["aspo", "sentence", "0.5"]
    assert rows["aspo-s"][3] == "1" and rows["aspo-p"][3] == "0"
    assert rows["aspo-oracle"][6] == "judge" and rows["aspo-s"][6] == "clip"


def test_methods_json():
    result = run_cli("methods", "aspo-token", "--json")
    assert result.returncode == 0
    [method] = json.loads(result.stdout)
    assert method["granularity"] == "token" and method["alpha"] == 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        (("methods", "ipo"), "unknown method 'ipo'; known methods: aspo, aspo-oracle, aspo-p, aspo-response, aspo-s, aspo-token, dpo"),
        (("methods", "aspo", "--alpha", "1.5"), "alpha must lie in [0, 1]; got 1.5"),
        (("methods", "aspo", "--alpha", "-0.2"), "alpha must lie in [0, 1]; got -0.2"),
        (("methods", "--alpha", "0.3"), "option overrides apply to one method"),
    ],
)
def test_bad_input_gets_a_clear_message_and_non_zero_exit(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
