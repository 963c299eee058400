import os
from pathlib import Path

import pytest

FAULT_INJECTION = Path(__file__).parent / "fault_injection"


@pytest.fixture
def failing_step(monkeypatch):
    """``failing_step(label)``: from now on, every process the launchers start fails the step so
    labelled (``fault_injection/sitecustomize.py``); ``failing_step(None)`` stops it."""

    def fail(label: str | None) -> None:
        if label is None:
            monkeypatch.delenv("ASPO_TEST_FAIL_STEP", raising=False)
            return
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAULT_INJECTION),
                                                                      os.environ.get("PYTHONPATH")])))
        monkeypatch.setenv("ASPO_TEST_FAIL_STEP", label)

    return fail
