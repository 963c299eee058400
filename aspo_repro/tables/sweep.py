"""A sweep figure (``SweepSpec``): panels against the swept option, one line per method, one row per model.

The learning-rate sweep of the mini models is one: the held-out drift of training
(``training/drift.py``) and mini-SHR with its correct and hallucinated sentences per description,
against the rate, for DPO and ASPO. Written as PNG and PDF and as a Markdown table of every plotted
number, with the choice the spec's rule makes from them per model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aspo_repro.intervals import Interval, estimate
from aspo_repro.results import BASE_METHOD, EvalResult, RunKey, seed_results
from aspo_repro.tables.grid import MISSING, RunScore
from aspo_repro.tables.render import Context, interval_text
from aspo_repro.tables.specs import HELD_OUT_DRIFT, SweepSpec, plain_label


@dataclass(frozen=True)
class Point:
    model: str
    series: str
    value: float  # of the swept option
    panels: dict[str, Interval | None]
    accuracy: Interval | None  # the held-out preference accuracy (the rule's "it moves")


def panel_label(panel: str) -> str:
    if panel == HELD_OUT_DRIFT:
        return "held-out chosen drift (nats/token)"
    return plain_label(panel)


def load_run(results_root: str | os.PathLike, run: RunKey) -> EvalResult | None:
    path = run.eval_path(results_root)
    return EvalResult.load(path) if path.is_file() else None


def _held_out(result: EvalResult) -> dict | None:
    return ((result.extra or {}).get("training") or {}).get("held_out")


def _panel_interval(results: list[EvalResult], panel: str) -> Interval | None:
    """Mean over seeds with its interval (seeds and items for a benchmark; for the drift, seeds, or the
    pairs' interval when there is one seed)."""
    if panel == HELD_OUT_DRIFT:
        return _held_out_interval(results, "chosen_drift_per_token")
    scores = [r.scores[panel] for r in results if panel in r.scores]
    if not scores:
        return None
    from aspo_repro.evaluation.benchmarks import get_benchmark

    runs = [RunScore(s.value, get_benchmark(panel).scale, s.items) for s in scores]
    return estimate([r.value for r in runs], [r.draws for r in runs])


def _held_out_interval(results: list[EvalResult], key: str) -> Interval | None:
    measured = [h[key] for h in map(_held_out, results) if h and key in h]
    if not measured:
        return None
    if len(measured) > 1:
        return estimate([m["mean"] for m in measured])
    mean, (low, high) = measured[0]["mean"], measured[0]["ci95"]
    return Interval(mean, low, high, 1, None, (high - low) / 2)


def sweep_points(spec: SweepSpec, results_root, seeds: int | None) -> tuple[list[Point], dict[str, Interval | None]]:
    """Every (model, series, value) point, and each model's base mini-SHR-like panels (for reference lines)."""
    points, base = [], {}
    for model in spec.models:
        base_result = load_run(results_root, RunKey(spec.profile, model, BASE_METHOD))
        for panel in spec.file.panels:
            base[f"{model}/{panel}"] = (_panel_interval([base_result], panel)
                                        if base_result and panel != HELD_OUT_DRIFT else None)
        for series in spec.file.series:
            for value in spec.file.values:
                method = spec.method(series, value)
                found = seed_results(results_root, RunKey(spec.profile, model, method), seeds)
                points.append(Point(model, series, value, {p: _panel_interval(found, p) for p in spec.file.panels},
                                    _held_out_interval(found, "reward_accuracy")))
    return points, base


def rule_choice(spec: SweepSpec, points: list[Point], model: str) -> tuple[float | None, str]:
    """The value the spec's rule picks for ``model``, and why."""
    rule = spec.file.rule
    if rule is None:
        return None, "no rule"
    allowed = []
    for point in (p for p in points if p.model == model and p.series == rule.series):
        drift = point.panels.get(HELD_OUT_DRIFT)
        if drift is None:
            return None, f"{spec.file.option} {point.value:g} has no held-out measurement yet"
        if rule.min_drift <= abs(drift.mean) <= rule.max_drift:
            allowed.append(point.value)
    if not allowed:
        return None, f"no value moves the held-out answers by {rule.min_drift:g} to {rule.max_drift:g} nats per token"
    return max(allowed), f"largest {spec.file.option} with {rule.min_drift:g} <= |drift| <= {rule.max_drift:g} nats/token"


def plot(spec: SweepSpec, points: list[Point], base: dict, footer: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = len(spec.models), len(spec.file.panels)
    chosen = {model: rule_choice(spec, points, model)[0] for model in spec.models}
    figure, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.4 * rows), squeeze=False,
                                constrained_layout=True)
    for i, model in enumerate(spec.models):
        for j, panel in enumerate(spec.file.panels):
            ax = axes[i][j]
            for series in spec.file.series:
                measured = [(p.value, p.panels[panel]) for p in points
                            if p.model == model and p.series == series and p.panels[panel] is not None]
                if measured:
                    ax.errorbar([v for v, _ in measured], [s.mean for _, s in measured],
                                yerr=[s.half_width for _, s in measured], marker="o", capsize=3, label=series)
            reference = base.get(f"{model}/{panel}")
            if reference is not None:
                ax.axhline(reference.mean, color="gray", linestyle="--", linewidth=1, label="base")
            if panel == HELD_OUT_DRIFT and spec.file.rule is not None:
                ax.axhline(-spec.file.rule.max_drift, color="tab:red", linestyle=":", linewidth=1, label="rule bound")
            if chosen.get(model) is not None:
                ax.axvline(chosen[model], color="tab:green", linestyle="-.", linewidth=1, label="rule's choice")
            ax.set_xscale("log")
            ax.set_xticks(list(spec.file.values))
            ax.set_xticklabels([f"{v:.0e}".replace("e-0", "e-") for v in spec.file.values], fontsize=6, rotation=60)
            ax.minorticks_off()
            ax.tick_params(axis="y", labelsize=6)
            ax.grid(alpha=0.3)
            ax.set_title(f"{model}: {panel_label(panel)}", fontsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=6)
    figure.suptitle(f"{spec.title} ({spec.profile} profile)", fontsize=9)
    figure.text(0.005, 0.001, footer, fontsize=5, color="gray", va="bottom")
    return figure


def to_markdown(spec: SweepSpec, points: list[Point], base: dict, context: Context, used: int) -> str:
    header = ["model", "method", spec.file.option, *(panel_label(p) for p in spec.file.panels), "held-out accuracy"]
    lines = [
        f"<!-- Generated by `{context.command}` from the results under {context.results_root}. Do not edit: regenerate. -->",
        f"# {spec.title} ({spec.profile} profile)",
        "",
        *context.warning_lines(),
        "Each value is the mean over seeds ± the half-width of its 95% interval (benchmarks: seeds and items, "
        "as in the tables; held-out measures: seeds, or the interval over held-out pairs with one seed). "
        f"The drift is the held-out chosen answers' mean log-probability change per token (0: the policy did not "
        f"move; training/drift.py). Base rows show the base model. {MISSING} marks a run without a result.",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in header[3:]) + " |",
    ]
    for model in spec.models:
        cells = [interval_text(base[f"{model}/{p}"], 2) if base.get(f"{model}/{p}") else MISSING for p in spec.file.panels]
        lines.append(f"| {model} | base | — | " + " | ".join(cells) + f" | {MISSING} |")
        for point in (p for p in points if p.model == model):
            cells = [interval_text(point.panels[p], 3 if p == HELD_OUT_DRIFT else 2) if point.panels[p] else MISSING
                     for p in spec.file.panels]
            accuracy = interval_text(point.accuracy, 3) if point.accuracy else MISSING
            lines.append(f"| {model} | {point.series} | {point.value:g} | " + " | ".join(cells) + f" | {accuracy} |")
    if spec.file.rule is not None:
        lines += ["", f"Rule (stated in the figure's file, configs/tables/lr_sweep.yaml, with its history): the largest "
                  f"{spec.file.option} at which {spec.file.rule.series} moves the held-out chosen answers by at least "
                  f"{spec.file.rule.min_drift:g} and at most {spec.file.rule.max_drift:g} nats per token.", ""]
        for model in spec.models:
            value, why = rule_choice(spec, points, model)
            lines.append(f"- {model}: {spec.file.option} {value:g} ({why})" if value is not None else f"- {model}: none ({why})")
    lines += ["", context.provenance_line(used), ""]
    return "\n".join(lines)


def sweep_figure(spec: SweepSpec, results_root, context: Context, seeds: int | None = None):
    """The figure (matplotlib) and the Markdown table of every plotted number."""
    points, base = sweep_points(spec, results_root, seeds)
    # every seed's result the points were made of (each (model, method) once, then all its seeds)
    used = sum(len(seed_results(results_root, run, seeds)) for run in spec.runs_needed(seeds=1))
    return plot(spec, points, base, context.provenance_line(used)), to_markdown(spec, points, base, context, used)
