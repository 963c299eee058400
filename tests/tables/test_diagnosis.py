"""The preference-data section of a mini table (tables/diagnosis.py) from a diagnosis report."""

from aspo_repro.tables.diagnosis import diagnosis_rows

REPORT = {
    "pairs": 3,
    "answers": {"chosen": {"sentence_hallucination_rate": 0.1}, "rejected": {"sentence_hallucination_rate": 0.3}},
    "confounds": {"claimed_count": {"rejected_more": 1, "chosen_more": 0, "equal": 2}},
    "weights": {
        "aspo-s": {"auc_within_answer": {"value": 0.6, "ci95": [0.5, 0.7]}},
        "aspo": {"auc_within_answer": {"value": 0.8, "ci95": [0.7, 0.9]},
                 "gradient_scale": {"correct": 1.1, "hallucinated": 0.7}},
    },
}


def test_a_column_per_measured_weight_and_the_mixed_weights_gradient_scale():
    header, rows = diagnosis_rows({"mini-llava-s": REPORT})
    assert header[5:] == ["AUC S within answers", "AUC P within answers", "AUC S+P within answers",
                          "c(1+w) correct / halluc. (S+P)"]
    assert rows == [["mini-llava-s", "3", "10.0% / 30.0%", "1 / 0 / 2", "—", "0.60 [0.50, 0.70]", "—",
                     "0.80 [0.70, 0.90]", "1.10 / 0.70"]]


def test_each_similarity_row_names_its_scorer_and_the_auc_of_its_similarity(tmp_path):
    """A judge-trained row's S AUC comes from its runs' records, the data scorer's from the diagnosis (its
    S-only weights, also for the S+P row), the oracle's is exact; a row without similarity is not listed."""
    from aspo_repro.aspo_choices import SCORER_KINDS
    from aspo_repro.results import BenchmarkScore, EvalResult, RunKey
    from aspo_repro.tables.diagnosis import similarity_rows
    from aspo_repro.tables.specs import TableRow

    def row(label, method):
        return TableRow("mini-LLaVA-S", label, "", None, None, model="mini-llava-s", method=method)

    for seed, value in enumerate((0.48, 0.52)):
        record = {"value": value, "ci95": [value - 0.03, value + 0.03], "answers": 200}
        EvalResult(RunKey("mini", "mini-llava-s", "aspo-s[scorer=judge-trained]", seed), {"mini_shr": BenchmarkScore(70.0)},
                   extra={"training": {"similarity": {"auc_within_answers": record}}}).save_to(tmp_path)
    rows = [row("+DPO", "dpo"), row("+ASPO-S, judge-trained", "aspo-s[scorer=judge-trained]"), row("+ASPO-P", "aspo-p"),
            row("+ASPO-S+P", "aspo"), row("+oracle", "aspo-oracle"),
            TableRow("mini-LLaVA-S", "ASPO", "response", None, None, model="mini-llava-s", method="aspo-response")]
    found = similarity_rows(rows, tmp_path, "mini", 3, {"mini-llava-s": REPORT})
    assert found == [
        ["mini-LLaVA-S", "+ASPO-S, judge-trained", SCORER_KINDS["judge-trained"].description, "0.50 [0.45, 0.55]"],
        ["mini-LLaVA-S", "+ASPO-S+P", SCORER_KINDS["clip"].description, "0.60 [0.50, 0.70]"],
        ["mini-LLaVA-S", "+oracle", SCORER_KINDS["judge"].description, "1.00"],
        ["mini-LLaVA-S", "ASPO (response level)", SCORER_KINDS["clip"].description, "—"],  # one unit per answer
    ]


RESCORED = {**REPORT, "weights_by_scorer": {"judge-trained": {
    "aspo-s": {"auc_within_answer": {"value": 0.9, "ci95": [0.85, 0.95]}},
    "aspo": {"auc_within_answer": {"value": 0.93, "ci95": [0.9, 0.96]}},
}}}


def test_a_scorer_that_scores_again_gets_its_own_columns_and_only_a_report_that_measured_it_fills_them():
    header, rows = diagnosis_rows({"mini-llava-s": RESCORED, "mini-llava-m": REPORT})
    assert header[5:] == ["AUC S within answers", "AUC P within answers", "AUC S+P within answers",
                          "AUC S, scorer=judge-trained", "AUC S+P, scorer=judge-trained",
                          "c(1+w) correct / halluc. (S+P)"]
    assert rows[0][5:] == ["0.60 [0.50, 0.70]", "—", "0.80 [0.70, 0.90]", "0.90 [0.85, 0.95]", "0.93 [0.90, 0.96]",
                           "1.10 / 0.70"]
    assert rows[1][8:10] == ["—", "—"]


def test_a_row_that_scores_again_without_runs_takes_its_auc_from_that_scorers_diagnosis(tmp_path):
    """Not the data's similarities (0.60): the judge-trained scorer's, measured beside them (0.90)."""
    from aspo_repro.tables.diagnosis import similarity_rows
    from aspo_repro.tables.specs import TableRow

    rows = [TableRow("mini-LLaVA-S", "+ASPO-S, judge-trained", "", None, None, model="mini-llava-s",
                     method="aspo-s[scorer=judge-trained]")]
    assert similarity_rows(rows, tmp_path, "mini", 3, {"mini-llava-s": RESCORED})[0][3] == "0.90 [0.85, 0.95]"
    assert similarity_rows(rows, tmp_path, "mini", 3, {"mini-llava-s": REPORT})[0][3] == "—"


def test_a_table_shows_the_scorers_its_rows_score_again_with_only():
    """Table 1's rows weight by the data's similarities: no judge-trained columns, though the diagnosis
    measured that scorer too (for Table 5); a table with a judge-trained row keeps them."""
    from aspo_repro.tables.diagnosis import for_rows
    from aspo_repro.tables.specs import TableRow

    def row(method):
        return TableRow("mini-LLaVA-S", method, "", None, None, model="mini-llava-s", method=method)

    data_only = for_rows({"mini-llava-s": RESCORED}, [row("dpo"), row("aspo")])
    assert data_only["mini-llava-s"]["weights_by_scorer"] == {}
    assert data_only["mini-llava-s"]["weights"] == RESCORED["weights"]
    assert diagnosis_rows(data_only)[0] == diagnosis_rows({"mini-llava-s": REPORT})[0]
    rescored = for_rows({"mini-llava-s": RESCORED}, [row("aspo"), row("aspo[scorer=judge-trained]")])
    assert rescored == {"mini-llava-s": RESCORED}
