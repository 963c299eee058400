"""The stand-in MMBench server scores a submission by the circular rule against its answer key."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal.answer_keys import answer_key_path
from aspo_repro.rehearsal.submission_server import SubmissionServerStandin

MMB_TEST = REGISTRY["mmbench_test"]


def submission(path, predictions):
    """An lmms-eval MMBench submission file: one row per rotation, options A-D."""
    rows = [{"index": index, "question": "What is shown?", "answer": None, "prediction": prediction,
             "hint": None, "source": "MMBench", "split": "test", "category": "image_scene",
             "L2-category": "coarse_perception", "A": "a cat", "B": "a dog", "C": "nan", "D": "nan", "E": "nan"}
            for index, prediction in predictions.items()]
    pd.DataFrame(rows).to_excel(path, index=False)
    return path


@pytest.fixture
def server(tmp_path):
    key = {"0": "A", str(ROTATION_OFFSET): "B", "1": "B", str(1 + ROTATION_OFFSET): "A"}
    path = answer_key_path(tmp_path, "mmbench_en_test")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(key))
    return SubmissionServerStandin(tmp_path)


def test_a_question_counts_only_when_every_rotation_is_right(server, tmp_path):
    all_right = submission(tmp_path / "right.xlsx", {0: "A", ROTATION_OFFSET: "B", 1: "B", 1 + ROTATION_OFFSET: "A"})
    assert server.score(MMB_TEST, all_right) == (100.0, 2)
    one_rotation_wrong = submission(tmp_path / "half.xlsx",
                                    {0: "A", ROTATION_OFFSET: "B", 1: "B", 1 + ROTATION_OFFSET: "B"})
    assert server.score(MMB_TEST, one_rotation_wrong) == (50.0, 2)
    assert "circular accuracy" in server.name(MMB_TEST)


def test_answers_to_questions_outside_the_key_are_refused(server, tmp_path):
    stray = submission(tmp_path / "stray.xlsx", {7: "A"})
    with pytest.raises(UserError, match="1 answers to questions the answer key lacks"):
        server.score(MMB_TEST, stray)
    with pytest.raises(UserError, match="wrote no submission file"):
        server.score(MMB_TEST, tmp_path / "none.xlsx")
