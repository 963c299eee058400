"""The processes a run trains in: started together, they must form one job."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.training.processes import check_processes_form_one_job, launched_processes


def test_processes_that_do_not_form_one_job_are_refused(monkeypatch):
    """accelerate falls back to one process each when its config asks for devices the machine lacks."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_processes() == 1
    check_processes_form_one_job("fp32")  # one process, as launched
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched_processes() == 2
    with pytest.raises(UserError, match="started as 2 processes, but they do not form one training job"):
        check_processes_form_one_job("fp32")
