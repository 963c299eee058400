"""CI: kill `reproduce` mid-training, run it again, and check it ends where an uninterrupted run does.

The mini-smoke reproduction is SIGKILLed at training step 12 (after the checkpoint of step 10) by
the tests' fault injection (tests/training/fault_injection/kill_at_step.py, a Trainer callback
plugin); the second invocation must reuse what finished, resume the interrupted run, train no run
twice, and produce exactly the scores of the uninterrupted smoke reproduction CI made before on
this machine (its results root: the script's argument).

    python .ci/kill_and_resume.py UNINTERRUPTED_RESULTS
"""

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/training/fault_injection"))
from kill_at_step import armed_environment  # noqa: E402

work = Path(tempfile.mkdtemp(prefix="kill-resume-"))
command = [sys.executable, "-m", "aspo_repro", "reproduce", "--table", "1", "--profile", "mini-smoke",
           "--models", "mini-llava-s", "--results", str(work / "results"), "--tables-dir", str(work / "tables"),
           "--work-dir", str(work / "work")]

killed = subprocess.run(command, env=armed_environment(12), capture_output=True, text=True)
assert killed.returncode == -9, f"expected a SIGKILL mid-training, got exit {killed.returncode}:\n{killed.stderr[-2000:]}"
resumed = subprocess.run(command, capture_output=True, text=True)
assert resumed.returncode == 0, resumed.stderr[-2000:]
assert "resuming from checkpoint-10" in resumed.stdout + resumed.stderr

journal = [json.loads(line) for line in (work / "work" / "reproduce.jsonl").read_text().splitlines()]
trained = Counter(tuple(e["step"]) for e in journal if e["step"][0] == "train" and e["status"] == "ran")
assert trained and all(count == 1 for count in trained.values()), f"a run was trained twice: {trained}"
from aspo_repro.results import collect  # noqa: E402

resumed_scores = collect(work / "results", "mini").set_index(["model", "method", "seed", "benchmark"])["value"]
uninterrupted = collect(sys.argv[1], "mini").set_index(["model", "method", "seed", "benchmark"])["value"]
compared = uninterrupted.reindex(resumed_scores.index)
assert compared.notna().all(), "the uninterrupted reproduction lacks runs the resumed one made"
differ = resumed_scores[resumed_scores != compared]
assert differ.empty, f"the resumed reproduction differs from the uninterrupted one:\n{differ}"
print(f"kill and resume: killed at step 12, resumed, {len(trained)} runs trained once each, "
      f"{len(resumed_scores)} scores equal to the uninterrupted run's")
