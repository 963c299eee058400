"""CI: the paper rehearsal's Table 1 has every cell it can have, each result names lmms-eval's own
adapter, the device and (judged benchmarks) the judge, and each training ran in 2 processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aspo_repro.evaluation.benchmarks import REGISTRY

root = Path(sys.argv[1])
problems = []
results = sorted((root / "results").rglob("eval.json"))
runs = sorted((root / "work").rglob("run.json"))
if len(results) != 9 or len(runs) != 6:
    problems.append(f"expected 9 results and 6 training runs, found {len(results)} and {len(runs)}")
for path in results:
    result = json.loads(path.read_text())
    provenance, missing = result["provenance"], result["extra"]["missing"]
    if provenance["adapter"] not in ("llava_hf", "instructblip") or not provenance.get("device"):
        problems.append(f"{path}: adapter {provenance['adapter']!r}, device {provenance.get('device')!r}")
    unscored = {name: why for name, why in missing.items() if not REGISTRY[name].submission}
    if unscored:
        problems.append(f"{path}: not scored: {unscored}")
    for name in result["scores"]:
        if REGISTRY[name].needs_api_key and "127.0.0.1" not in (provenance["judges"].get(name) or ""):
            problems.append(f"{path}: {name} names no local judge: {provenance['judges'].get(name)!r}")
for path in runs:
    processes = json.loads(path.read_text())["processes"]
    if processes["count"] != 2:
        problems.append(f"{path}: trained in {processes}")
if not (root / "tables" / "table1.md").is_file():
    problems.append("no tables/table1.md")
if results:  # how many questions each benchmark asked (the first result; every run asks the same)
    details = json.loads(results[0].read_text())["extra"]["details"]
    print("rows per benchmark:", {name: sum(d["samples"].values()) for name, d in sorted(details.items())})
print("\n".join(problems) or f"rehearsal: {len(results)} results, {len(runs)} runs in 2 processes, table written")
sys.exit(1 if problems else 0)
