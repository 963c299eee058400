"""The metrics of the project's tasks against hand-computed values (no model, no lmms-eval run)."""

import math

import pytest

from aspo_repro.evaluation import metrics, mini_tasks
from aspo_repro.evaluation.benchmarks import REGISTRY


def pope(prediction, answer):
    return {"prediction": prediction, "answer": answer}


def test_pope_metrics_by_hand():
    # 3 positives, 3 negatives: yes/yes, no/yes (miss), other/yes (miss), yes/no (false alarm), no/no, other/no
    records = [pope("yes", "yes"), pope("no", "yes"), pope("other", "yes"),
               pope("yes", "no"), pope("no", "no"), pope("other", "no")]
    assert metrics.POPE_F1.items(records) == [(2, 2), (0, 1), (0, 1), (0, 1), (0, 0), (0, 0)]  # tp, fn, fn, fp, tn, tn
    assert metrics.POPE_PRECISION.score(records) == pytest.approx(1 / 2)
    assert metrics.POPE_RECALL.score(records) == pytest.approx(1 / 3)
    assert metrics.POPE_F1.score(records) == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))  # = 0.4
    assert metrics.POPE_F1.score(records) == pytest.approx(0.4)
    assert metrics.POPE_ACCURACY.score(records) == pytest.approx(3 / 6)
    assert metrics.POPE_YES_RATIO.score(records) == pytest.approx(2 / 6)


def test_always_yes_on_a_split_with_p_positives_and_n_negatives():
    records = [pope("yes", "yes")] * 3 + [pope("yes", "no")] * 2
    assert metrics.POPE_PRECISION.score(records) == pytest.approx(3 / 5) and metrics.POPE_RECALL.score(records) == 1.0
    assert metrics.POPE_F1.score(records) == pytest.approx(2 * 3 / (2 * 3 + 2))
    assert metrics.POPE_YES_RATIO.score(records) == 1.0


def test_never_yes_scores_zero_f1_not_nan():
    records = [pope("no", "yes"), pope("no", "no")]
    assert metrics.POPE_F1.score(records) == 0.0 and metrics.POPE_PRECISION.score(records) == 0.0
    assert metrics.POPE_YES_RATIO.score(records) == 0.0
    assert metrics.POPE_PRECISION.items(records) == [(0, 0), (0, 0)]  # no item counts: the score is the metric's 0


def test_pope_process_results_reads_the_first_word():
    doc = {"id": "q", "answer": "no"}
    assert mini_tasks.pope_process_results(doc, ["No, there is no star."])["pope_f1"]["prediction"] == "no"
    assert mini_tasks.pope_process_results(doc, ["Yes"])["pope_f1"]["prediction"] == "yes"
    assert mini_tasks.pope_process_results(doc, ["There is a star"])["pope_f1"]["prediction"] == "other"


def test_circular_accuracy_needs_every_rotation():
    records = [{"question_id": "a", "correct": True}] * 4 + \
              [{"question_id": "b", "correct": c} for c in (True, True, True, False)] + \
              [{"question_id": "c", "correct": True}] * 4
    assert metrics.CIRCULAR_ACCURACY.items(records) == [(1, 1), (0, 1), (1, 1)]  # one item per question
    assert metrics.CIRCULAR_ACCURACY.score(records) == pytest.approx(2 / 3)
    assert metrics.CIRCULAR_ACCURACY.score([]) == 0.0


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
    assert metrics.SHR.items(records) == [(1, 4), (2, 2)]
    assert metrics.SHR.score(records) == pytest.approx(3 / 6)  # not the mean of 1/4 and 2/2
    assert math.isnan(metrics.SHR.score([{"hallucinated": 0, "judged": 0, "sentences": 3}]))


def test_sentences_per_description_is_a_mean_over_descriptions():
    records = [{"hallucinated": 2, "correct": 1, "judged": 3}, {"hallucinated": 0, "correct": 3, "judged": 3}]
    assert metrics.CORRECT_PER_IMAGE.items(records) == [(1, 1), (3, 1)]
    assert metrics.CORRECT_PER_IMAGE.score(records) == pytest.approx(2.0)
    assert metrics.HALLUCINATED_PER_IMAGE.score(records) == pytest.approx(1.0)
    assert math.isnan(metrics.CORRECT_PER_IMAGE.score([]))


@pytest.mark.parametrize("name, records", [
    ("mini_pope", [pope("yes", "yes"), pope("no", "yes"), pope("yes", "no"), pope("other", "no")]),
    ("mini_shr", [{"hallucinated": 1, "correct": 2, "judged": 3}, {"hallucinated": 2, "correct": 0, "judged": 3}]),
    ("mini_shr_correct", [{"hallucinated": 1, "correct": 2, "judged": 3}, {"hallucinated": 2, "correct": 0, "judged": 3}]),
    ("mini_shr_hallucinated", [{"hallucinated": 1, "correct": 2, "judged": 3}, {"hallucinated": 2, "correct": 0, "judged": 3}]),
    ("mini_mmb", [{"question_id": "a", "correct": True}, {"question_id": "a", "correct": False},
                  {"question_id": "b", "correct": True}]),
])
def test_a_mini_task_aggregates_by_the_metric_its_items_are_resampled_by(name, records):
    """The score lmms-eval reports for a mini benchmark and its items in eval.json come from one ``Metric``."""
    benchmark = REGISTRY[name]
    metric = metrics.METRICS[benchmark.item_rule]
    assert getattr(mini_tasks, benchmark.metric)(records) == metrics.ratio_of_sums(metric.items(records))
