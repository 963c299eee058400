"""The preference reader: schema checks with row numbers, counted skips, nothing written on bad input."""

import pytest
from prefdata import make_rows, save_prefs

from aspo_repro.cli import main
from aspo_repro.errors import UserError
from aspo_repro.training.formatting import format_preferences
from aspo_repro.training.preferences import read_preferences


def saved(tmp_path, rows, name="prefs"):
    return save_prefs(tmp_path / name, rows)


def error_of(directory) -> str:
    with pytest.raises(UserError) as raised:
        read_preferences(directory)
    return str(raised.value)


def test_valid_file_reads_with_its_manifest(tmp_path):
    prefs = read_preferences(saved(tmp_path, make_rows(5)))
    assert prefs.total_rows == 5 and len(prefs.dataset) == 5
    assert prefs.skipped.total == 0
    assert prefs.has_similarity
    assert prefs.manifest == {"source": "tests", "rows": 5}


def test_missing_column_is_named(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "rejected"} for row in make_rows(3)]
    message = error_of(saved(tmp_path, rows))
    assert "missing column(s) rejected" in message


def test_missing_directory(tmp_path):
    assert "does not exist" in error_of(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("images", "reason"),
    [
        ([{"bytes": b"", "path": None}], "the image is empty"),
        ([], "no image"),
        (None, "no image"),
        ([{"bytes": b"not a png", "path": None}], "the image cannot be read"),
    ],
)
def test_bad_image_names_row_and_reason(tmp_path, images, reason):
    rows = make_rows(4)
    rows[2]["images"] = images
    message = error_of(saved(tmp_path, rows))
    assert "row 2 (id 'pair-2')" in message and reason in message
    assert "1 bad preference row(s)" in message


def test_chosen_identical_to_rejected_is_a_counted_skip(tmp_path):
    rows = make_rows(4)
    rows[1]["rejected"] = rows[1]["chosen"]
    prefs = read_preferences(saved(tmp_path, rows))
    assert prefs.total_rows == 4 and len(prefs.dataset) == 3
    assert prefs.skipped.summary() == {"chosen_equals_rejected": {"count": 1, "ids": ["pair-1"]}}
    assert "pair-1" not in prefs.dataset["id"]


def test_every_pair_skipped_is_an_error(tmp_path):
    rows = make_rows(2)
    for row in rows:
        row["rejected"] = row["chosen"]
    assert "no usable preference pairs" in error_of(saved(tmp_path, rows))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"chosen": "   "}, "chosen is empty"),
        ({"chosen_sentence_spans": [[5, 3]]}, "not an ordered, non-empty span"),
        ({"chosen_sentence_spans": [[0, 10_000]]}, "not an ordered, non-empty span"),
        ({"chosen_sentence_similarity": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, "6 values for"),
    ],
)
def test_bad_text_or_spans_name_row_and_reason(tmp_path, change, reason):
    rows = make_rows(3)
    rows[0].update(change)
    message = error_of(saved(tmp_path, rows))
    assert "row 0 (id 'pair-0')" in message and reason in message


def test_duplicate_ids_are_rejected(tmp_path):
    rows = make_rows(3)
    rows[2]["id"] = rows[0]["id"]
    assert "row 2 (id 'pair-0'): duplicate id" in error_of(saved(tmp_path, rows))


def test_spans_are_computed_when_the_column_is_absent(tmp_path, llava_dir):
    from transformers import AutoProcessor

    rows = [
        {k: v for k, v in row.items() if not k.startswith("chosen_sentence")}
        for row in make_rows(3)
    ]
    prefs = read_preferences(saved(tmp_path, rows))
    assert not prefs.has_similarity
    formatted = format_preferences(
        prefs, AutoProcessor.from_pretrained(llava_dir), "llava", 512, "skip"
    )
    assert formatted["sentence_spans"] == [
        [list(s) for s in make_rows(3)[i]["chosen_sentence_spans"]] for i in range(3)
    ]


def overlong_rows():
    rows = make_rows(4, sentences=(1, 1))
    rows[3]["chosen"] = " ".join(["there is a red circle ."] * 30)
    rows[3]["chosen_sentence_spans"] = [[0, 22]]
    rows[3]["chosen_sentence_similarity"] = [0.5]
    return rows


def test_overlong_pair_is_skipped_and_counted(tmp_path, llava_dir):
    from transformers import AutoProcessor

    prefs = read_preferences(saved(tmp_path, overlong_rows()))
    formatted = format_preferences(
        prefs, AutoProcessor.from_pretrained(llava_dir), "llava", 64, "skip"
    )
    assert len(formatted) == 3 and "pair-3" not in formatted["id"]
    assert prefs.skipped.summary() == {"longer_than_max_length": {"count": 1, "ids": ["pair-3"]}}


def test_overlong_pair_can_be_an_error(tmp_path, llava_dir):
    from transformers import AutoProcessor

    prefs = read_preferences(saved(tmp_path, overlong_rows()))
    with pytest.raises(
        UserError, match=r"row 3 \(id 'pair-3'\): \d+ tokens, longer than max_length 64"
    ):
        format_preferences(prefs, AutoProcessor.from_pretrained(llava_dir), "llava", 64, "error")


def test_cli_reports_bad_data_and_writes_nothing(tmp_path, llava_dir, capsys):
    rows = make_rows(3)
    rows[1]["images"] = []
    prefs = saved(tmp_path, rows)
    capsys.readouterr()  # the progress bars of writing the fixture
    out = tmp_path / "run"
    status = main(
        [
            "train",
            "--method",
            "aspo",
            "--model",
            str(llava_dir),
            "--prefs",
            str(prefs),
            "--out",
            str(out),
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "row 1 (id 'pair-1'): no image" in error
    assert "Traceback" not in error
    assert not out.exists()


def test_cli_rejects_unknown_method_and_model(tmp_path, prefs_dir, capsys):
    args = ["--prefs", str(prefs_dir), "--out", str(tmp_path / "run")]
    assert main(["train", "--method", "nope", "--model", "llava-1.5-7b", *args]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["train", "--method", "dpo", "--model", str(tmp_path / "no-model"), *args]) == 2
    assert "neither a registered model" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
