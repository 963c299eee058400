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
