"""One step of a plan in its own process: ``python -m aspo_repro.orchestration.worker REQUEST.json``.

The worker waits until every step it needs is done (a table: until each has finished, done or
not), then runs the stage unless its output is already there, and records the outcome
(``launch.StepRecords``). It exits non-zero when the step fails or cannot run (a step it needs
failed), so that a scheduler's ``afterok`` holds back what depends on it.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from aspo_repro.orchestration.launch import StepRecords, StepRequest, process_alive
from aspo_repro.orchestration.runner import RAN, REUSED
from aspo_repro.orchestration.stages import Stages, Workspace

POLL_SECONDS = 2.0


class StepNotRun(RuntimeError):
    """A step did not run: one it needs failed."""


def stages_for(request: StepRequest, log=print) -> Stages:
    from aspo_repro.orchestration.profiles import load_profile

    workspace = Workspace(
        profile=load_profile(request.profile),
        results_root=Path(request.results_root),
        tables_dir=Path(request.tables_dir),
        work_dir=Path(request.work_dir),
        cache_dir=Path(request.cache_dir) if request.cache_dir else None,
    )
    return Stages(workspace, log=log)


def run_step(request: StepRequest, log=print, stages: Stages | None = None) -> str:
    """Run one step: ``ran`` or ``reused``; raises when it fails or a step it needs failed. ``stages``:
    the request's, kept by a process that runs many steps (what they obtain once, as a run in turn does)."""
    if request.threads:
        import torch

        torch.set_num_threads(request.threads)
    stages = stages or stages_for(request, log)
    records = StepRecords(stages.ws.work_dir, warn=log)
    step = request.step
    records.write(step, "waiting", job_pid=os.getpid())
    failed = wait_for_needs(request, stages, records)
    if failed and not step.kind.runs_after_failed_needs:
        records.write(step, "blocked", error=f"a step it needs did not succeed: {failed}")
        raise StepNotRun(f"{step.label()}: a step it needs did not succeed: {failed}")
    if not request.force and stages.is_done(step):
        records.write(step, "done", reused=True)
        return REUSED
    # the GPUs this process sees (one of its own under --jobs N) and when it began, for the record
    where = {"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "started_at": time.time()}
    records.write(step, "running", job_pid=os.getpid(), **where)
    started = time.perf_counter()
    try:
        stages.execute(step, request.invocation)
    except BaseException as error:
        records.write(step, "failed", error=f"{type(error).__name__}: {error}", **where,
                      traceback=traceback.format_exc(), seconds=round(time.perf_counter() - started, 2))
        raise
    records.write(step, "done", **where, seconds=round(time.perf_counter() - started, 2))
    return RAN


def wait_for_needs(request: StepRequest, stages: Stages, records: StepRecords) -> str | None:
    """Block until every needed step has finished; the label of one that did not succeed, or None."""
    while True:
        pending, failed = [], None
        for need in request.needs:
            if stages.is_done(need):
                continue
            record = records.read(need) or {}
            status = record.get("status")
            if status == "done":
                continue
            if request.needs_ended:  # the scheduler started this job after the need's job ended
                failed = need.label()
            elif status in (None, "queued"):  # its job has not started (the scheduler starts it)
                pending.append(need)
            elif status in ("waiting", "running") and process_alive(record.get("job_pid"), record.get("host")):
                pending.append(need)
            else:  # failed, blocked, or its process died without a word
                failed = need.label()
        if not pending:
            return failed
        time.sleep(POLL_SECONDS)


def main(argv: list[str] | None = None, kept: dict | None = None) -> int:
    """The worker's command line; ``kept``: the Stages of each workspace, across the steps of one process."""
    from aspo_repro.errors import UserError
    from aspo_repro.files import read_json_object

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m aspo_repro.orchestration.worker REQUEST.json", file=sys.stderr)
        return 2
    try:
        request = StepRequest.from_json(read_json_object(args[0], "step request"))
        workspace = (request.profile, request.results_root, request.tables_dir, request.work_dir, request.cache_dir)
        stages = None if kept is None else kept.get(workspace)
        if kept is not None and stages is None:
            stages = kept[workspace] = stages_for(request)
        outcome = run_step(request, stages=stages)
    except StepNotRun as error:
        print(f"not run: {error}", file=sys.stderr)
        return 3
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"step {outcome}: {request.step.label()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
