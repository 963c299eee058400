"""The preference-data section of a mini table: do the pairs and ASPO's weights carry the signal?

Beside a mini table's scores, each model's preference data as ``prefs diagnose`` measured it against
the exact judge (``data/diagnostics.py``; the ``reproduce`` prefs step writes it beside the results):
how much each side hallucinates, whether the rejected side is mostly longer or claims more objects,
which side hallucinates more among pairs of equal length, and how well ASPO's weights (S, P, S+P) rank
an answer's correct sentences above its hallucinated ones.
"""

from __future__ import annotations

import os

from aspo_repro.data.diagnostics import weight_label, weighted_methods
from aspo_repro.files import read_record
from aspo_repro.profile_kinds import get_profile_kind
from aspo_repro.results import diagnosis_path


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
    header = ["Model", "pairs", "halluc. sentences chosen / rejected", "claims more objects: rej. / ch. / equal",
              "halluc. more at equal length: rej. / ch. / equal",
              *(f"AUC {weight_label(method)} within answers" for method in measured),
              f"c(1+w) correct / halluc. ({weight_label(mixed)})"]
    rows = []
    for model, report in diagnoses.items():
        answers, confounds, weights = report["answers"], report["confounds"], report["weights"]
        equal_length = confounds.get("hallucinated_at_equal_length")
        scale = (weights.get(mixed.name) or {}).get("gradient_scale") or {}
        rows.append([
            model, str(report["pairs"]), f"{_percent(answers['chosen'])} / {_percent(answers['rejected'])}",
            _tally(confounds["claimed_count"]), _tally(equal_length) if equal_length else "—",
            *(_auc((weights.get(method.name) or {}).get("auc_within_answer")) for method in measured),
            f"{scale['correct']:.2f} / {scale['hallucinated']:.2f}" if scale.get("correct") is not None else "—",
        ])
    return header, rows


INTRO = ("Preference data (SeVa pairs) measured against the exact judge (`prefs diagnose`): the sentence "
         "hallucination rate of each side; per pair, which side claims more objects and, among pairs of equal "
         "length, which hallucinates more; how often ASPO's weights rank an answer's correct sentence above its "
         "hallucinated one (AUC within answers, 0.5 = no signal, 95% bootstrap interval over answers); the "
         "gradient scale each class gets at equal rewards.")


def diagnosis_markdown(diagnoses: dict[str, dict]) -> list[str]:
    if not diagnoses:
        return []
    header, rows = diagnosis_rows(diagnoses)
    lines = ["## The preference data and ASPO's weights", "", INTRO, "",
             "| " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in header[1:]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def diagnosis_latex(diagnoses: dict[str, dict], escape) -> list[str]:
    if not diagnoses:
        return []
    header, rows = diagnosis_rows(diagnoses)
    lines = ["\\begin{table*}[t]", "\\centering", f"\\caption{{{escape(INTRO)}}}", "\\resizebox{\\textwidth}{!}{%",
             f"\\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", "\\toprule",
             " & ".join(escape(h) for h in header) + " \\\\", "\\midrule"]
    lines += [" & ".join(escape(cell) for cell in row) + " \\\\" for row in rows]
    return lines + ["\\bottomrule", "\\end{tabular}%", "}", "\\end{table*}", ""]

