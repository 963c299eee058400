"""The metrics of the project's tasks against hand-computed values (no model, no lmms-eval run)."""

import math

import pytest

from aspo_repro.evaluation import metrics, mini_tasks


def pope(prediction, answer):
    return {"prediction": prediction, "answer": answer}


def test_yes_no_counts_by_hand():
    # 3 positives, 3 negatives: yes/yes, no/yes (miss), other/yes (miss), yes/no (false alarm), no/no, other/no
    records = [pope("yes", "yes"), pope("no", "yes"), pope("other", "yes"),
               pope("yes", "no"), pope("no", "no"), pope("other", "no")]
    counts = metrics.yes_no_counts(records)
    assert (counts.true_pos, counts.false_pos, counts.true_neg, counts.false_neg, counts.unparsed) == (1, 1, 2, 2, 2)
    assert counts.precision == pytest.approx(1 / 2)
    assert counts.recall == pytest.approx(1 / 3)
    assert counts.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))  # = 0.4
    assert counts.f1 == pytest.approx(0.4)
    assert counts.accuracy == pytest.approx(3 / 6)
    assert counts.yes_ratio == pytest.approx(2 / 6)


def test_always_yes_on_a_split_with_p_positives_and_n_negatives():
    records = [pope("yes", "yes")] * 3 + [pope("yes", "no")] * 2
    counts = metrics.yes_no_counts(records)
    assert counts.precision == pytest.approx(3 / 5) and counts.recall == 1.0
    assert counts.f1 == pytest.approx(2 * 3 / (2 * 3 + 2))
    assert counts.yes_ratio == 1.0


def test_never_yes_scores_zero_f1_not_nan():
    counts = metrics.yes_no_counts([pope("no", "yes"), pope("no", "no")])
    assert counts.f1 == 0.0 and counts.precision == 0.0 and counts.yes_ratio == 0.0


def test_pope_process_results_reads_the_first_word():
    doc = {"id": "q", "answer": "no"}
    assert mini_tasks.pope_process_results(doc, ["No, there is no star."])["pope_f1"]["prediction"] == "no"
    assert mini_tasks.pope_process_results(doc, ["Yes"])["pope_f1"]["prediction"] == "yes"
    assert mini_tasks.pope_process_results(doc, ["There is a star"])["pope_f1"]["prediction"] == "other"


def test_circular_accuracy_needs_every_rotation():
    records = [{"question_id": "a", "correct": True}] * 4 + \
              [{"question_id": "b", "correct": c} for c in (True, True, True, False)] + \
              [{"question_id": "c", "correct": True}] * 4
    assert metrics.circular_accuracy(records) == pytest.approx(2 / 3)


def test_rotations_move_the_answer_with_its_option():
    options, answer = ["red", "blue", "green", "white"], 1
    rotated = [mini_tasks.rotate(options, answer, shift) for shift in range(4)]
    assert rotated[1] == (["blue", "green", "white", "red"], 0)
    assert rotated[3] == (["white", "red", "blue", "green"], 2)
    assert all(opts[index] == "blue" for opts, index in rotated)


def test_gqa_exact_match_normalises_case_punctuation_and_number_words():
    doc = {"answer": "2"}
    assert mini_tasks.gqa_process_results(doc, ["Two."]) == {"exact_match": 1.0}
    assert mini_tasks.gqa_process_results({"answer": "top left"}, ["Top left"]) == {"exact_match": 1.0}
    assert mini_tasks.gqa_process_results(doc, ["3"]) == {"exact_match": 0.0}


def test_shr_ratio_sums_over_descriptions_and_is_nan_without_judged_sentences():
    records = [{"hallucinated": 1, "judged": 4, "sentences": 5}, {"hallucinated": 2, "judged": 2, "sentences": 2}]
    assert metrics.shr_ratio(records) == pytest.approx(3 / 6)  # not the mean of 1/4 and 2/2
    assert math.isnan(metrics.shr_ratio([{"hallucinated": 0, "judged": 0, "sentences": 3}]))
