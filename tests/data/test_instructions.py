"""Reading LLaVA-Instruct-150K style sources: questions, sampling, and bad records by id."""

from __future__ import annotations

import json

import pytest
from prefs_helpers import QUESTIONS, broken_source, write_source

from aspo_repro.data.instructions import apply_error_policy, read_instructions, sample_positions
from aspo_repro.errors import UserError


def test_reads_the_first_human_question_without_the_image_token(tmp_path):
    json_path, image_dir = write_source(tmp_path, 5)
    result = read_instructions(json_path, image_dir)
    assert [i.id for i in result.instructions] == [f"rec{i:03d}" for i in range(5)]
    assert result.instructions[1].prompt == QUESTIONS[1]
    assert result.instructions[0].image_path == image_dir / "000000000000.png"
    assert result.problems == [] and result.total_records == 5


def test_sample_is_seeded_in_source_order_and_limit_takes_the_first(tmp_path):
    json_path, image_dir = write_source(tmp_path, 12)
    first = read_instructions(json_path, image_dir, sample=5, seed=3)
    again = read_instructions(json_path, image_dir, sample=5, seed=3)
    other = read_instructions(json_path, image_dir, sample=5, seed=4)
    ids = [i.id for i in first.instructions]
    assert ids == [i.id for i in again.instructions] and ids == sorted(ids) and len(set(ids)) == 5
    assert ids != [i.id for i in other.instructions]
    limited = read_instructions(json_path, image_dir, sample=5, seed=3, limit=2)
    assert [i.id for i in limited.instructions] == ids[:2]


def test_sample_positions_rejects_impossible_samples():
    assert sample_positions(4, None, 0) == [0, 1, 2, 3]
    with pytest.raises(UserError, match="more than the 4 records"):
        sample_positions(4, 5, 0)
    with pytest.raises(UserError, match="positive"):
        sample_positions(4, 0, 0)


def test_every_kind_of_bad_record_is_named_by_id(tmp_path):
    result = read_instructions(*broken_source(tmp_path))
    assert [i.id for i in result.instructions] == ["rec000", "rec001"]
    reasons = {p.id: p.reason for p in result.problems}
    assert set(reasons) == {"no-file", "garbled", "bad-turns", "silent", "#6"}
    assert "does not exist" in reasons["no-file"]
    assert "cannot be read" in reasons["garbled"]
    assert "malformed record" in reasons["bad-turns"] and "malformed record" in reasons["#6"]
    assert "without a question" in reasons["silent"]


def test_stop_policy_raises_naming_the_records_and_skip_does_not(tmp_path):
    result = read_instructions(*broken_source(tmp_path))
    with pytest.raises(UserError, match=r"5 unusable instruction record\(s\), nothing written: record no-file"):
        apply_error_policy(result.problems, "stop")
    apply_error_policy(result.problems, "skip")


def test_malformed_json_file_and_missing_folder_are_user_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"id\": 1,")
    with pytest.raises(UserError, match="not valid JSON"):
        read_instructions(bad, tmp_path)
    bad.write_text("{\"id\": 1}")
    with pytest.raises(UserError, match="JSON list"):
        read_instructions(bad, tmp_path)
    json_path, _ = write_source(tmp_path, 1)
    with pytest.raises(UserError, match="image folder"):
        read_instructions(json_path, tmp_path / "nowhere")


def test_records_sharing_an_id_get_unique_stable_pair_ids(tmp_path):
    # LLaVA-Instruct-150K names records by COCO image id: one image's records share it.
    json_path, image_dir = write_source(tmp_path, 3)
    records = json.loads(json_path.read_text())
    records[2]["id"] = records[0]["id"]
    json_path.write_text(json.dumps(records))
    ids = [i.id for i in read_instructions(json_path, image_dir).instructions]
    assert ids == ["rec000@0", "rec001", "rec000@2"]
    assert [i.id for i in read_instructions(json_path, image_dir, sample=1, seed=5).instructions][0] in ids
