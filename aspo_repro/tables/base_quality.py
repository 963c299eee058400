"""Base models of graded quality against the weights' AUC and ASPO's gain (``BaseQualitySpec``, issue 31).

Each mini model of the spec is a family of levels: the model trained for a share of its SFT steps
(``mini-llava-s-sft10``, ``miniworld/graded.py``) and the whole model. A level's quality is its base
model's score on the spec's ``quality`` benchmark; against it, the AUC of the weights the spec's method
trains with (its preference diagnosis, as the weight-quality figure reads it) and the method minus
``versus`` on each panel benchmark, paired by seed and item as Table 5's "vs DPO" cells are
(``grid.compared``). Written as PNG and PDF and as a Markdown table of every plotted number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aspo_repro.intervals import Interval
from aspo_repro.models.registry import get_model_spec
from aspo_repro.results import BASE_METHOD
from aspo_repro.tables.grid import MISSING, RunScores, compared, run_scores
from aspo_repro.tables.render import Context, difference_text, number
from aspo_repro.tables.specs import (
    BaseQualitySpec,
    Column,
    benchmark_label,
    plain_label,
    seed_range,
)
from aspo_repro.tables.weight_auc import Auc
from aspo_repro.tables.weight_quality import decimals, direction, row_auc, runs_text


@dataclass(frozen=True)
class Level:
    """One base model of a family: its share of the SFT steps, its scores, its weights' AUC, the gain."""

    family: str  # the whole model's name (what ``--models`` names)
    model: str  # this level's model
    budget: float
    base: dict[str, float | None]  # the base model's score on the quality benchmark and each panel
    auc: Auc | None
    auc_missing: str
    seeds: int  # the method's runs found
    differences: dict[str, Interval | None]  # by panel: the method minus ``versus``, paired by seed

    @property
    def label(self) -> str:
        return get_model_spec(self.model).display_name


def base_score(scores: RunScores, model: str, benchmark: str) -> float | None:
    values = scores.per_seed(model, BASE_METHOD, Column(benchmark, None))[0]
    return values[0] if values else None


def levels(spec: BaseQualitySpec, scores: RunScores, results_root, seeds: int | None) -> list[Level]:
    from aspo_repro.tables.diagnosis import load_diagnoses

    file, found = spec.file, []
    for family in spec.models:
        names = spec.levels(family)
        diagnoses = load_diagnoses(results_root, spec.profile, tuple(names))
        for budget, model in zip(spec.budgets, names):
            differences, runs = {}, 0
            for panel in file.panels:
                values, draws, seed_ids = scores.per_seed(model, file.method, Column(panel, None))
                runs = max(runs, len(values))
                differences[panel] = (compared(scores, model, file.versus, Column(panel, None), None, values, draws,
                                               seed_ids) if values else None)
            auc, why = row_auc(spec.profile, model, results_root, file.method, diagnoses.get(model), seeds)
            base = {benchmark: base_score(scores, model, benchmark) for benchmark in (file.quality, *file.panels)}
            found.append(Level(family, model, budget, base, auc, why if model in diagnoses else "no preference data yet",
                               runs, differences))
    return found


# ---------------------------------------------------------------- the figure
def plot(spec: BaseQualitySpec, found: list[Level], footer: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    file = spec.file
    figure, axes = plt.subplots(1, 1 + len(file.panels), figsize=(3.6 * (1 + len(file.panels)), 3.6), squeeze=False,
                                constrained_layout=True)
    figure.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))  # room for the footer
    x_label = f"base model's {benchmark_label(file.quality)} ({direction(file.quality)})"
    auc_axis, *gain_axes = axes[0]
    for family in spec.models:
        members = [level for level in found if level.family == family and level.base[file.quality] is not None]
        label = get_model_spec(family).display_name
        _draw_auc(auc_axis, [level for level in members if level.auc is not None], file.quality, label)
        for ax, panel in zip(gain_axes, file.panels):
            _draw_gain(ax, [level for level in members if level.differences[panel] is not None], file.quality, panel,
                       label)
    auc_axis.axhline(0.5, color="gray", linestyle=":", linewidth=1)
    auc_axis.set_ylabel(f"AUC of {file.method}'s weights within answers", fontsize=7)
    auc_axis.set_title("weight quality", fontsize=8)
    for ax, panel in zip(gain_axes, file.panels):
        ax.axhline(0.0, color="gray", linestyle="--", linewidth=1)
        ax.set_ylabel(f"{benchmark_label(panel)}: {file.method} − {file.versus} ({direction(panel)})", fontsize=7)
        ax.set_title(plain_label(panel), fontsize=8)
    for ax in axes[0]:
        ax.set_xlabel(x_label, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        if not ax.lines:
            ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center", va="center", color="gray")
    if auc_axis.get_legend_handles_labels()[0]:
        auc_axis.legend(fontsize=6)
    figure.suptitle(f"{spec.title} ({spec.profile} profile)", fontsize=9)
    figure.text(0.005, 0.001, footer, fontsize=5, color="gray", va="bottom")
    return figure


def _draw_auc(ax, members: list[Level], quality: str, label: str) -> None:
    if not members:
        return
    x = [level.base[quality] for level in members]
    y = [level.auc.value for level in members]
    yerr = [[level.auc.value - (level.auc.low if level.auc.low is not None else level.auc.value) for level in members],
            [(level.auc.high if level.auc.high is not None else level.auc.value) - level.auc.value for level in members]]
    line = ax.errorbar(x, y, yerr=yerr, marker="o", capsize=3, label=label)
    _budgets(ax, members, x, y, line)


def _draw_gain(ax, members: list[Level], quality: str, panel: str, label: str) -> None:
    if not members:
        return
    x = [level.base[quality] for level in members]
    y = [level.differences[panel].mean for level in members]
    line = ax.errorbar(x, y, yerr=[level.differences[panel].half_width for level in members], marker="o",
                       capsize=3, label=label)
    _budgets(ax, members, x, y, line)


def _budgets(ax, members: list[Level], x: list[float], y: list[float], line) -> None:
    """Each point labelled with its share of the SFT steps, in its line's colour."""
    colour = line.lines[0].get_color()
    for level, xi, yi in zip(members, x, y):
        ax.annotate(f"{round(100 * level.budget)}%", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=5,
                    color=colour)


# ---------------------------------------------------------------- the Markdown table
def to_markdown(spec: BaseQualitySpec, found: list[Level], context: Context, used: int, seeds: int | None) -> str:
    file = spec.file
    base_columns = [file.quality, *(p for p in file.panels if p != file.quality)]
    header = ["model", "SFT steps", *(f"base {benchmark_label(b)}" for b in base_columns), "AUC within answers",
              "AUC from", f"{file.method} runs", *(f"{benchmark_label(p)}: {file.method} − {file.versus}"
                                                   for p in file.panels)]
    lines = [
        f"<!-- Generated by `{context.command}` from the results under {context.results_root}. Do not edit: regenerate. -->",
        f"# {spec.title} ({spec.profile} profile)",
        "",
        *context.warning_lines(),
        "Each model at every level of SFT: trained from the same initial weights on the same data by its world's "
        "recipe, every phase cut to the share of its steps shown (100%: the world's own model; miniworld/graded.py). "
        f"Base: the base model's score (one evaluation). AUC: how often the weights {file.method} trains with rank "
        "a chosen answer's correct sentence above its hallucinated one (1 exact, 0.5 no signal), measured on that "
        "level's own preference pairs (its preference diagnosis), with its 95% interval. The last columns: "
        f"{file.method} minus {file.versus} trained from the same seed, the mean over the seeds both have ± the "
        "half-width of its 95% interval (seeds paired by id, items through the shared bootstrap draws, as Table 5's "
        f"\"vs DPO\" cells); `*` where the interval excludes 0. {MISSING}: no result yet. What the figure is meant "
        f"to show and how it is read is stated in configs/tables/{spec.name.replace('-', '_')}.yaml.",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in base_columns) + " | ---: | --- | ---: | "
        + " | ".join("---:" for _ in file.panels) + " |",
    ]
    for level in found:
        base = [number(level.base[b], decimals(b)) if level.base[b] is not None else MISSING for b in base_columns]
        auc = level.auc.text() if level.auc else MISSING
        source = level.auc.source if level.auc else level.auc_missing
        gains = [difference_text(level.differences[p], decimals(p)) if level.differences[p] else MISSING
                 for p in file.panels]
        lines.append(f"| {level.label} | {round(100 * level.budget)}% | " + " | ".join(base)
                     + f" | {auc} | {source} | {runs_text(level.seeds, seeds)} | " + " | ".join(gains) + " |")
    missing = [level.label for level in found if level.seeds == 0 or level.base[file.quality] is None]
    if missing:
        lines += ["", f"Missing (no result yet): {'; '.join(missing)}. "
                  f"`python -m aspo_repro reproduce --table {spec.table}` runs them."]
    lines += ["", context.provenance_line(used), ""]
    return "\n".join(lines)


def base_quality_figure(spec: BaseQualitySpec, results, results_root: str | os.PathLike, context: Context,
                        seeds: int | None = None):
    """The figure (matplotlib) and the Markdown table of every plotted number."""
    if seeds is not None:
        seed_range(seeds)
    scores = run_scores(results, seeds)
    found = levels(spec, scores, results_root, seeds)
    models = {level.model for level in found}
    methods = {BASE_METHOD, spec.file.versus, spec.file.method}
    used = sum(1 for model, method, _ in scores.keys() if model in models and method in methods)
    return plot(spec, found, context.provenance_line(used)), to_markdown(spec, found, context, used, seeds)
