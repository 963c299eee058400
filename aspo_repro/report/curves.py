"""Training curves: each training run's ``metrics.jsonl`` (loss, reward margins and accuracy, ASPO's
normaliser c and its unit weights' mean/min/max), seeds overlaid, one SVG per (model, method); with
the held-out drift each ``run.json`` records."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from aspo_repro.report.sources import Sources

PANELS = (  # (metrics.jsonl keys drawn in one panel, the panel's title)
    (("loss",), "loss"),
    (("rewards/margins",), "reward margin (chosen − rejected)"),
    (("rewards/accuracies",), "reward accuracy"),
    (("c/mean",), "c, ASPO's normaliser (Eq. 12)"),
    (("weights/mean", "weights/min", "weights/max"), "unit weights: mean, min, max"),
)


@dataclass
class RunCurves:
    model: str
    method: str
    svg_file: str
    svg: bytes
    runs: list[dict] = field(default_factory=list)  # per seed: its directory, steps, wall time, held-out drift


def training_runs(sources: Sources) -> dict[tuple[str, str], list[Path]]:
    """(model, method) -> its finished runs' directories (``run.json`` written last), seeds in order."""
    found: dict[tuple[str, str], list[Path]] = {}
    for record in sorted(sources.work_dir.glob("*/*/seed*/run.json")) if sources.work_dir.is_dir() else []:
        if (record.parent / "metrics.jsonl").is_file():
            found.setdefault((record.parent.parent.parent.name, record.parent.parent.name), []).append(record.parent)
    return found


def collect_curves(sources: Sources) -> list[RunCurves]:
    from aspo_repro.files import read_record

    views = []
    for (model, method), directories in training_runs(sources).items():
        series = {d.name: read_metrics(d / "metrics.jsonl") for d in directories}
        records = {d.name: read_record(d / "run.json", "training run record") or {} for d in directories}
        svg = plot(model, method, series)
        views.append(RunCurves(model, method, f"curves/{model}-{method}.svg".replace("@", "_"), svg,
                               [run_summary(d, records[d.name]) for d in directories]))
    return views


def read_metrics(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def run_summary(directory: Path, record: dict) -> dict:
    held_out = record.get("held_out") or {}
    drift = (held_out.get("chosen_drift_per_token") or {})
    return {"seed": directory.name, "directory": str(directory), "steps": record.get("steps"),
            "wall_time_s": record.get("wall_time_s"), "git": record.get("git_revision"),
            "cpu": (record.get("hardware") or {}).get("cpu"), "created": record.get("created"),
            "drift": drift.get("mean"), "drift_ci95": drift.get("ci95"),
            "held_out_accuracy": (held_out.get("reward_accuracy") or {}).get("mean")}


def plot(model: str, method: str, series: dict[str, list[dict]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(keys, title) for keys, title in PANELS if any(k in row for rows in series.values() for row in rows for k in keys)]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.6), squeeze=False, constrained_layout=True)
    for ax, (keys, title) in zip(axes[0], panels):
        for n, (seed, rows) in enumerate(sorted(series.items())):
            for k, key in enumerate(keys):
                points = [(row["step"], row[key]) for row in rows if key in row]
                if points:
                    ax.plot(*zip(*points), marker="o", markersize=3, color=f"C{n}", alpha=1.0 - 0.3 * k,
                            linestyle=("-", "--", ":")[k], label=f"{seed} {key.split('/')[-1]}" if len(keys) > 1 else seed)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("optimiser step", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    figure.suptitle(f"{model} / {method}: training, seeds overlaid", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()
