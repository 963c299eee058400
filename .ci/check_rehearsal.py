"""CI: the paper rehearsal's Table 1 has every cell filled, each result names a paper-profile
adapter (lmms_model.PAPER_ADAPTERS), the device, (judged benchmarks) the judge and (MMB-test) the
stand-in server that scored it, and each training ran in 2 processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.evaluation.lmms_model import PAPER_ADAPTERS

root = Path(sys.argv[1])
problems = []
results = sorted((root / "results").rglob("eval.json"))
runs = sorted((root / "work").rglob("run.json"))
if len(results) != 9 or len(runs) != 6:
    problems.append(f"expected 9 results and 6 training runs, found {len(results)} and {len(runs)}")
for path in results:
    result = json.loads(path.read_text())
    provenance, missing = result["provenance"], result["extra"]["missing"]
    if provenance["adapter"] not in PAPER_ADAPTERS.values() or not provenance.get("device"):
        problems.append(f"{path}: adapter {provenance['adapter']!r}, device {provenance.get('device')!r}")
    if missing:
        problems.append(f"{path}: not scored: {missing}")
    if "mmbench_test" not in provenance.get("server_scores", {}):
        problems.append(f"{path}: MMB-test names no server that scored it")
    for name in result["scores"]:
        if REGISTRY[name].needs_api_key and "127.0.0.1" not in (provenance["judges"].get(name) or ""):
            problems.append(f"{path}: {name} names no local judge: {provenance['judges'].get(name)!r}")
for path in runs:
    processes = json.loads(path.read_text())["processes"]
    if processes["count"] != 2:
        problems.append(f"{path}: trained in {processes}")
table = root / "tables" / "table1.md"
if not table.is_file():
    problems.append("no tables/table1.md")
else:  # the reproduced rows (not the published ones): no cell without a value (a "—"), and an
    # interval in every cell whose benchmark keeps its items (all but the server-scored MMB-test and Avg)
    lines = table.read_text().splitlines()
    header = next(line.split("|")[3:-1] for line in lines if line.startswith("| Model"))
    rows = [line.split("|")[3:-1] for line in lines
            if line.startswith("| ") and "(published)" not in line and "---" not in line and "Method" not in line]
    empty = sum(cell.strip().startswith("—") for row in rows for cell in row)
    if len(rows) != 9 or empty:
        problems.append(f"{table}: {len(rows)} reproduced rows, {empty} empty cells")
    without_items = {"MMB-test", "Avg"}
    no_interval = [f"{row[0].strip()[:12]}.../{column.strip()}" for row in rows for column, cell in zip(header, row)
                   if column.strip() not in without_items and "±" not in cell]
    if no_interval:
        problems.append(f"{table}: cells without an interval: {', '.join(no_interval)}")
if results:  # how many questions each benchmark asked (the first result; every run asks the same)
    details = json.loads(results[0].read_text())["extra"]["details"]
    print("rows per benchmark:", {name: sum(d["samples"].values()) for name, d in sorted(details.items())})
print("\n".join(problems) or f"rehearsal: {len(results)} results, {len(runs)} runs in 2 processes, table written")
sys.exit(1 if problems else 0)
