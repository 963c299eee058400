"""Fault injection for the launch tests, in the processes the launchers start (workers, jobs).

Python imports ``sitecustomize`` at start-up from the first directory of ``sys.path`` that has
one; the ``failing_step`` fixture (tests/orchestration/conftest.py) puts this directory at the
front of ``PYTHONPATH`` and names a step's label in ``ASPO_TEST_FAIL_STEP``. Every process then
runs that step as a failure: ``Stages.execute`` raises before the step's kind runs. The package
itself knows nothing of it.
"""

import os

FAIL_STEP_ENV = "ASPO_TEST_FAIL_STEP"

if os.environ.get(FAIL_STEP_ENV):
    from aspo_repro.orchestration.stages import Stages

    _execute = Stages.execute

    def _failing_execute(self, step, invocation):
        if step.label() == os.environ.get(FAIL_STEP_ENV):
            raise RuntimeError(f"failure injected by the tests ({FAIL_STEP_ENV})")
        return _execute(self, step, invocation)

    Stages.execute = _failing_execute
