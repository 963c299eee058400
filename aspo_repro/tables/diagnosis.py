"""The preference-data section of a mini table: do the pairs and ASPO's weights carry the signal?

Beside a mini table's scores, each model's preference data as ``prefs diagnose`` measured it against
the exact judge (``data/diagnostics.py``; the ``reproduce`` diagnose step writes it beside the results):
how much each side hallucinates, whether the rejected side is mostly longer or claims more objects,
which side hallucinates more among pairs of equal length, and how well ASPO's weights (S, P, S+P) rank
an answer's correct sentences above its hallucinated ones; then, for each row that weights by a
similarity, which scorer gave it and how that scorer was trained.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from aspo_repro.data.diagnostics import weight_label, weighted_methods
from aspo_repro.files import read_record
from aspo_repro.profile_kinds import get_profile_kind
from aspo_repro.results import RunKey, diagnosis_path, resolve_method
from aspo_repro.tables.specs import TableRow


def load_diagnoses(results_root: str | os.PathLike, profile: str, models: tuple[str, ...]) -> dict[str, dict]:
    """The diagnosis of each model's preference data found among the results (a profile with an exact judge only)."""
    if not get_profile_kind(profile).has_exact_judge:
        return {}
    found = {}
    for model in models:
        report = read_record(diagnosis_path(results_root, profile, model), "preference diagnosis")
        if report is not None:
            found[model] = report
    return found


def for_rows(diagnoses: dict[str, dict], rows: Sequence[TableRow]) -> dict[str, dict]:
    """The diagnoses with ASPO's weights by the scorers the table's rows score again with only
    (``weights_by_scorer``): a table shows the scorers its rows train with, whatever else was measured."""
    methods = [resolve_method(row.method) for row in rows if row.runnable]
    used = {method.rescorer for method in methods if method is not None and method.recomputes_similarity}
    return {model: {**report, "weights_by_scorer": {name: weights for name, weights in
                                                    (report.get("weights_by_scorer") or {}).items() if name in used}}
            for model, report in diagnoses.items()}


def _percent(side: dict) -> str:
    rate = side.get("sentence_hallucination_rate")
    return "—" if rate is None else f"{100 * rate:.1f}%"


def _tally(tally: dict) -> str:
    return f"{tally['rejected_more']} / {tally['chosen_more']} / {tally['equal']}"


def _auc(entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return "—"
    low, high = entry["ci95"]
    return f"{entry['value']:.2f} [{low:.2f}, {high:.2f}]"


def diagnosis_rows(diagnoses: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    measured = weighted_methods()
    mixed = measured[-1]  # the mix of every signal sorts last: its gradient scale is the one shown
    rescored = [method for method in measured if method.uses_similarity]
    others = sorted({name for report in diagnoses.values() for name in report.get("weights_by_scorer") or {}})
    header = ["Model", "pairs", "halluc. sentences chosen / rejected", "claims more objects: rej. / ch. / equal",
              "halluc. more at equal length: rej. / ch. / equal",
              *(f"AUC {weight_label(method)} within answers" for method in measured),
              *(f"AUC {weight_label(method)}, scorer={name}" for name in others for method in rescored),
              f"c(1+w) correct / halluc. ({weight_label(mixed)})"]
    rows = []
    for model, report in diagnoses.items():
        by_scorer = report.get("weights_by_scorer") or {}
        answers, confounds, weights = report["answers"], report["confounds"], report["weights"]
        equal_length = confounds.get("hallucinated_at_equal_length")
        scale = (weights.get(mixed.name) or {}).get("gradient_scale") or {}
        rows.append([
            model, str(report["pairs"]), f"{_percent(answers['chosen'])} / {_percent(answers['rejected'])}",
            _tally(confounds["claimed_count"]), _tally(equal_length) if equal_length else "—",
            *(_auc((weights.get(method.name) or {}).get("auc_within_answer")) for method in measured),
            *(_auc(((by_scorer.get(name) or {}).get(method.name) or {}).get("auc_within_answer"))
              for name in others for method in rescored),
            f"{scale['correct']:.2f} / {scale['hallucinated']:.2f}" if scale.get("correct") is not None else "—",
        ])
    return header, rows


INTRO = ("Preference data (SeVa pairs) measured against the exact judge (`prefs diagnose`): the sentence "
         "hallucination rate of each side; per pair, which side claims more objects and, among pairs of equal "
         "length, which hallucinates more; how often ASPO's weights rank an answer's correct sentence above its "
         "hallucinated one (AUC within answers, 0.5 = no signal, 95% bootstrap interval over answers), with the "
         "similarities the data holds (the mini world's caption scorer, CLIP-like) and, where named, with a scorer "
         "that scores the chosen sentences again (scorer=judge-trained: taught by the judge's verdicts); the "
         "gradient scale each class gets at equal rewards.")


SIMILARITY_HEADER = ["Model", "Row", "similarity: the scorer and how it was trained", "AUC S within answers"]
SIMILARITY_INTRO = ("Which similarity each row weights its sentences by (ASPO-S's S, Eq. 6-7), and how well it "
                    "ranks an answer's correct sentences above its hallucinated ones: from the row's own training "
                    "runs (mean over seeds; the interval spans theirs), else the diagnosis above, else exact.")


def similarity_rows(rows: Sequence[TableRow], results_root, profile: str, seeds: int | None,
                    diagnoses: dict[str, dict]) -> list[list[str]]:
    """A row per table row that weights by a similarity: its scorer (``SCORER_KINDS``) and S's AUC."""
    from aspo_repro.aspo_choices import SCORER_KINDS
    from aspo_repro.tables.weight_auc import constructed_auc, diagnosed_auc, recorded_auc

    found = []
    for row in rows:
        method = resolve_method(row.method) if row.runnable else None
        if method is None or not method.uses_similarity:
            continue
        auc = (recorded_auc(results_root, RunKey(profile, row.model, row.method), seeds)
               or diagnosed_auc(diagnoses.get(row.model), method.with_options(alpha=1.0))
               or constructed_auc(method))
        label = f"{row.label} ({row.level} level)" if row.level else row.label  # Table 6's rows differ by level
        found.append([row.model_label, label, SCORER_KINDS[method.scorer].description, auc.text() if auc else "—"])
    return found


def _markdown_table(header: list[str], rows: list[list[str]], numeric_from: int) -> list[str]:
    align = ["---"] * numeric_from + ["---:"] * (len(header) - numeric_from)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(row) + " |" for row in rows)]


def diagnosis_markdown(diagnoses: dict[str, dict], similarities: list[list[str]]) -> list[str]:
    if not diagnoses:
        return []
    header, rows = diagnosis_rows(diagnoses)
    lines = ["## The preference data and ASPO's weights", "", INTRO, "", *_markdown_table(header, rows, 1), ""]
    if similarities:
        lines += [SIMILARITY_INTRO, "", *_markdown_table(SIMILARITY_HEADER, similarities, 3), ""]
    return lines


def _latex_table(caption: str, header: list[str], rows: list[list[str]], columns: str, escape) -> list[str]:
    lines = ["\\begin{table*}[t]", "\\centering", f"\\caption{{{escape(caption)}}}", "\\resizebox{\\textwidth}{!}{%",
             f"\\begin{{tabular}}{{{columns}}}", "\\toprule",
             " & ".join(escape(h) for h in header) + " \\\\", "\\midrule"]
    lines += [" & ".join(escape(cell) for cell in row) + " \\\\" for row in rows]
    return lines + ["\\bottomrule", "\\end{tabular}%", "}", "\\end{table*}", ""]


def diagnosis_latex(diagnoses: dict[str, dict], similarities: list[list[str]], escape) -> list[str]:
    if not diagnoses:
        return []
    header, rows = diagnosis_rows(diagnoses)
    lines = _latex_table(INTRO, header, rows, f"l{'r' * (len(header) - 1)}", escape)
    if similarities:
        lines += _latex_table(SIMILARITY_INTRO, SIMILARITY_HEADER, similarities, "llp{9cm}r", escape)
    return lines

