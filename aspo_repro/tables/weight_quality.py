"""Weight quality against ASPO's difference to DPO (``WeightQualitySpec``, issue 31).

Each row is a method whose sentence weights have a measured quality: their within-answer AUC against the
exact judge (how often an answer's correct sentence outranks its hallucinated one). x is that AUC, y the
row's difference to the spec's ``versus`` method on each panel benchmark, paired by seed and item as
Table 5's "vs DPO" cells are (``grid.compared``). The AUC comes from the runs' own training records, else
from the model's preference diagnosis by the method's weight label (S, P, S+P), else, for the judge's
exact verdicts, 1 by construction; a row without an AUC or without results is listed, never placed.
Written as PNG and PDF and as a Markdown table of every plotted number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from aspo_repro.evaluation.benchmarks import get_benchmark
from aspo_repro.intervals import Interval
from aspo_repro.results import RunKey, resolve_method
from aspo_repro.tables.grid import MISSING, RunScores, compared, run_scores
from aspo_repro.tables.render import Context, difference_text, number
from aspo_repro.tables.specs import (
    Column,
    WeightQualitySpec,
    benchmark_label,
    plain_label,
    seed_range,
)
from aspo_repro.tables.table_file import ROLES, Role
from aspo_repro.tables.weight_auc import Auc, constructed_auc, diagnosed_auc, recorded_auc


@dataclass(frozen=True)
class WeightRow:
    label: str
    method: str
    role: Role
    seeds: int  # the row's runs found
    auc: Auc | None
    auc_missing: str  # why there is no AUC (when ``auc`` is None)
    differences: dict[str, Interval | None]  # by panel: the row minus ``versus``, paired by seed

    @property
    def placed(self) -> bool:
        """Whether it has a point in the figure: an AUC and a difference in some panel."""
        return self.auc is not None and any(d is not None for d in self.differences.values())


# ---------------------------------------------------------------- the AUC of a row's weights
def row_auc(profile: str, model: str, results_root, method_name: str, diagnosis: dict | None,
            seeds: int | None) -> tuple[Auc | None, str]:
    """The AUC of the weights ``method_name`` trains with on ``model``, and, without one, why."""
    method = resolve_method(method_name)
    # a run records its similarity's AUC; the weights' own only when they are the similarity alone
    recorded = None if method.uses_perplexity else recorded_auc(
        results_root, RunKey(profile, model, method_name), seeds)
    for auc in (recorded, diagnosed_auc(diagnosis, method), constructed_auc(method)):
        if auc is not None:
            return auc, ""
    if method.uses_similarity and not method.uses_perplexity:
        return None, "no training record of it"
    return None, "no training record, and the diagnosis did not measure these weights"


# ---------------------------------------------------------------- the rows
def weight_rows(spec: WeightQualitySpec, scores: RunScores, results_root, seeds: int | None) -> list[WeightRow]:
    from aspo_repro.tables.diagnosis import load_diagnoses

    model = spec.section.model
    diagnosis = load_diagnoses(results_root, spec.profile, spec.models).get(model)
    rows = []
    for entry in spec.file.rows:
        differences, found = {}, 0
        for panel in spec.file.panels:
            column = Column(panel, None)
            values, draws, seed_ids = scores.per_seed(model, entry.method, column)
            found = max(found, len(values))
            differences[panel] = (compared(scores, model, spec.file.versus, column, None, values, draws, seed_ids)
                                  if values else None)
        auc, why = row_auc(spec.profile, model, results_root, entry.method, diagnosis, seeds)
        why = why if found else "no result yet"
        rows.append(WeightRow(entry.label, entry.method, entry.kind, found, auc, why, differences))
    return rows


def versus_seeds(spec: WeightQualitySpec, scores: RunScores) -> int:
    return max((len(scores.per_seed(spec.section.model, spec.file.versus, Column(p, None))[0])
                for p in spec.file.panels), default=0)


def decimals(panel: str) -> int:
    """Two decimals on a percentage scale (mini-SHR), three on a count per description."""
    return 2 if get_benchmark(panel).scale > 1 else 3


def direction(panel: str) -> str:
    return "higher is better" if get_benchmark(panel).higher_is_better else "lower is better"


# ---------------------------------------------------------------- the figure
def plot(spec: WeightQualitySpec, rows: list[WeightRow], footer: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = spec.file.panels
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False,
                                constrained_layout=True)
    figure.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))  # room for the footer
    versus = spec.file.versus
    for ax, panel in zip(axes[0], panels):
        placed = [row for row in rows if row.auc is not None and row.differences[panel] is not None]
        for joined in (True, False):
            members = sorted((row for row in placed if row.role.joined == joined), key=lambda row: row.auc.value)
            if members:
                _draw(ax, panel, members, joined)
        ax.axhline(0.0, color="gray", linestyle="--", linewidth=1)
        ax.axvline(0.5, color="gray", linestyle=":", linewidth=1)
        if not placed:
            ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center", va="center", color="gray")
        ax.set_xlim(0.2, 1.05)
        ax.set_xlabel("AUC of the weights within answers (0.5 = no signal)", fontsize=7)
        ax.set_ylabel(f"{benchmark_label(panel)}: row − {versus} ({direction(panel)})", fontsize=7)
        ax.set_title(plain_label(panel), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=6)
    unplaced = [row.label for row in rows if not row.placed]
    figure.suptitle(f"{spec.title} ({spec.profile} profile, {spec.section.model})", fontsize=9)
    figure.text(0.005, 0.001, footer + (f"\nNot placed (no result or no AUC yet): {'; '.join(unplaced)}."
                                        if unplaced else ""), fontsize=5, color="gray", va="bottom")
    return figure


def _draw(ax, panel: str, rows: list[WeightRow], joined: bool) -> None:
    x = [row.auc.value for row in rows]
    y = [row.differences[panel].mean for row in rows]
    xerr = np.array([[row.auc.value - (row.auc.low if row.auc.low is not None else row.auc.value),
                      (row.auc.high if row.auc.high is not None else row.auc.value) - row.auc.value] for row in rows]).T
    yerr = [row.differences[panel].half_width for row in rows]
    if joined:
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker="o", capsize=3, label="noisy verdicts (95% intervals)")
        return
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="s", color="tab:red", capsize=3, label="the project's weights")
    for k, (row, xi, yi) in enumerate(zip(rows, x, y)):  # labels staggered: the markers sit close together
        right = xi < 0.65  # a label runs away from the nearer edge of the AUC axis, so it stays inside the panel
        ax.annotate(row.label, (xi, yi), textcoords="offset points", xytext=(12 if right else -12, 14 - 10 * k),
                    ha="left" if right else "right", fontsize=5,
                    arrowprops={"arrowstyle": "-", "linewidth": 0.4, "color": "gray"})


# ---------------------------------------------------------------- the Markdown table
def to_markdown(spec: WeightQualitySpec, rows: list[WeightRow], versus_runs: int, context: Context,
                used: int, seeds: int | None) -> str:
    panels = spec.file.panels
    versus = spec.file.versus
    header = ["row", "role", "method", "runs", "AUC within answers", "AUC from",
              *(f"{benchmark_label(p)} − {versus}" for p in panels)]
    lines = [
        f"<!-- Generated by `{context.command}` from the results under {context.results_root}. Do not edit: regenerate. -->",
        f"# {spec.title} ({spec.profile} profile)",
        "",
        *context.warning_lines(),
        f"Model {spec.section.model}. x: the within-answer AUC of the sentence weights each row trained with (how "
        "often they rank an answer's correct sentence above its hallucinated one: 1 exact, 0.5 no signal, below 0.5 "
        "inverted), from the runs' training records (mean over seeds; the interval spans the seeds' bootstrap "
        "intervals over answers), else from the preference diagnosis by the weights' label (S, P, S+P), else 1 by "
        f"construction for the judge's exact verdicts. y: the row minus {versus}, "
        "trained from the same seed, on each benchmark: the mean over the seeds both have ± the half-width of its "
        "95% interval (seeds paired by id, items through the shared bootstrap draws, as Table 5's \"vs DPO\" "
        f"cells); `*` where the interval excludes 0. {MISSING} marks what no result gives; such a row is not "
        "placed in the figure. What the figure is meant to show and how it is read is stated in "
        "configs/tables/weight_quality.yaml.",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | --- | --- | ---: | ---: | --- | " + " | ".join("---:" for _ in panels) + " |",
    ]
    for row in rows:
        auc = row.auc.text() if row.auc else MISSING
        source = row.auc.source if row.auc else row.auc_missing
        cells = [difference_text(row.differences[p], decimals(p)) if row.differences[p] else MISSING for p in panels]
        lines.append(f"| {row.label} | {row.role.name} | `{row.method}` | {runs_text(row.seeds, seeds)} | {auc} | "
                     f"{source} | " + " | ".join(cells) + " |")
    lines.append(f"| {versus} | versus | `{versus}` | {runs_text(versus_runs, seeds)} | {MISSING} | — | "
                 + " | ".join(number(0.0, decimals(p)) + " (reference)" for p in panels) + " |")
    missing = [row.label for row in rows if row.seeds == 0] + ([versus] if versus_runs == 0 else [])
    if missing:
        lines += ["", f"Missing (no result yet): {'; '.join(missing)}. "
                  f"`python -m aspo_repro reproduce --table {spec.table}` runs them."]
    lines += ["", "Roles: " + "; ".join(f"{role.name}: {role.description}" for role in ROLES.values()) + ".",
              "", context.provenance_line(used), ""]
    return "\n".join(lines)


def runs_text(found: int, seeds: int | None) -> str:
    """How many runs a row found: n=K, or n=K of N when seeds 0..N-1 were asked."""
    if found == 0:
        return MISSING
    return f"n={found} of {seeds}" if seeds and found < seeds else f"n={found}"


def weight_quality_figure(spec: WeightQualitySpec, results, results_root: str | os.PathLike, context: Context,
                          seeds: int | None = None):
    """The figure (matplotlib) and the Markdown table of every plotted number."""
    if seeds is not None:
        seed_range(seeds)
    scores = run_scores(results, seeds)
    rows = weight_rows(spec, scores, results_root, seeds)
    used = sum(1 for model, method, _ in scores.keys() if model == spec.section.model and method in spec.methods)
    markdown = to_markdown(spec, rows, versus_seeds(spec, scores), context, used, seeds)
    return plot(spec, rows, context.provenance_line(used)), markdown
