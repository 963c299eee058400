"""The mini world's questions written as the paper benchmarks' hub datasets: each loads with the hub's
features, and each row carries the mini question's exact answer and image."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal import mini_datasets as md
from aspo_repro.rehearsal.hub_schemas import LETTERS

SCENES = [
    {"id": "bench-00000", "objects": [{"shape": "circle", "colour": "red", "size": "large", "row": 0, "column": 0},
                                      {"shape": "square", "colour": "blue", "size": "small", "row": 2, "column": 1}]},
    {"id": "bench-00001", "objects": [{"shape": "star", "colour": "yellow", "size": "small", "row": 1, "column": 1}]},
    {"id": "bench-00002", "objects": [{"shape": "ring", "colour": "purple", "size": "large", "row": 0, "column": 2}]},
]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture(scope="module", autouse=True)
def datasets_cache(tmp_path_factory):
    """``load_dataset``'s cache under tmp."""
    import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf_datasets_cache")))
        yield


@pytest.fixture(scope="module")
def world_benchmarks(tmp_path_factory):
    """A mini benchmark directory in the world's format: three images, every file."""
    root = tmp_path_factory.mktemp("benchmarks")
    (root / "images").mkdir()
    for k, scene in enumerate(SCENES):
        Image.new("RGB", (12, 12), (60 * k, 90, 200 - 40 * k)).save(root / "images" / f"{scene['id']}.png")
    image = [f"images/{scene['id']}.png" for scene in SCENES]
    _write_jsonl(root / "mini_pope.jsonl", [
        {"id": f"pope-{split}-{k}", "image": image[k % 3], "question": f"Is there a {shape} in the image?",
         "answer": answer, "split": split}
        for split in ("random", "popular", "adversarial")
        for k, (shape, answer) in enumerate((("circle", "yes"), ("cross", "no"), ("ring", "yes")))])
    _write_jsonl(root / "mini_gqa.jsonl", [
        {"id": "gqa-0", "image": image[0], "question": "What colour is the circle?", "answer": "red", "type": "colour"},
        {"id": "gqa-1", "image": image[0], "question": "How many objects are there?", "answer": "2", "type": "count"},
        {"id": "gqa-2", "image": image[1], "question": "Where is the yellow star?", "answer": "center",
         "type": "position"}])
    _write_jsonl(root / "mini_mmb.jsonl", [
        {"id": "mmb-0", "image": image[0], "question": "What colour is the circle?",
         "options": ["blue", "red", "green", "white"], "answer": 1},
        {"id": "mmb-1", "image": image[1], "question": "What shape is in the center?",
         "options": ["star", "bar", "ring", "cross"], "answer": 0},
        {"id": "mmb-2", "image": image[2], "question": "How many objects are there?",
         "options": ["3", "4", "2", "1"], "answer": 3}])
    _write_jsonl(root / "mini_shr.jsonl", [
        {"id": f"shr-{scene['id']}", "image": image[k], "question": "Describe the image in detail.", "scene": scene}
        for k, scene in enumerate(SCENES)])
    return root


@pytest.fixture(scope="module")
def questions(world_benchmarks, tmp_path_factory):
    return md.MiniQuestions.load(md.write_subset(world_benchmarks, tmp_path_factory.mktemp("subset") / "b", 2))


@pytest.fixture(scope="module")
def written(questions, tmp_path_factory):
    return md.write_mini_datasets(tmp_path_factory.mktemp("hub"), questions)


def _load(written, hub_id, config, split):
    import datasets

    name = None if config == "default" else config
    return datasets.load_dataset(str(written[hub_id]), name=name, split=split)


def test_the_subset_keeps_the_first_questions_of_each_file_and_of_each_pope_split(questions, world_benchmarks):
    assert [q["id"] for q in questions.gqa] == ["gqa-0", "gqa-1"]
    assert [q["id"] for q in questions.mmb] == ["mmb-0", "mmb-1"]
    assert sorted(q["id"] for q in questions.pope) == sorted(f"pope-{s}-{k}" for s in ("random", "popular",
                                                                                         "adversarial") for k in (0, 1))
    for q in (*questions.pope, *questions.gqa, *questions.mmb, *questions.shr):  # each image copied unchanged
        assert (questions.directory / q["image"]).read_bytes() == (world_benchmarks / q["image"]).read_bytes()


def test_a_subset_written_from_the_same_questions_is_kept(world_benchmarks, tmp_path):
    out = md.write_subset(world_benchmarks, tmp_path / "b", 2)
    mark = out / "mini_gqa.jsonl"
    before = mark.stat().st_mtime_ns
    assert md.write_subset(world_benchmarks, tmp_path / "b", 2) == out and mark.stat().st_mtime_ns == before
    md.write_subset(world_benchmarks, tmp_path / "b", 3)
    assert len(md.read_jsonl(mark)) == 3


def test_every_config_and_split_loads_with_the_hub_features(questions, written):
    for dataset in md.mini_hub_datasets(questions):
        for config in dataset.configs:
            for split in config.splits:
                table = _load(written, dataset.hub_id, config.name, split)
                assert table.features == config.features(), (dataset.hub_id, config.name, split)
                assert len(table) > 0


def _pixels(image) -> bytes:
    return image.convert("RGB").tobytes()


def _mini_pixels(questions, relative) -> bytes:
    return Image.open(io.BytesIO(questions.image_bytes(relative))).convert("RGB").tobytes()


def test_pope_rows_are_the_mini_questions_with_their_answers_and_images(questions, written):
    by_id = {q["id"]: q for q in questions.pope}
    for split in ("random", "popular", "adversarial"):
        rows = _load(written, "lmms-lab-encoder/POPE", "Full", split)
        assert len(rows) == 2
        for row in rows:
            mini = by_id[row["question_id"]]
            assert (row["question"], row["answer"], row["category"]) == (mini["question"], mini["answer"], split)
            assert _pixels(row["image"]) == _mini_pixels(questions, mini["image"])
    assert len(_load(written, "lmms-lab-encoder/POPE", "default", "test")) == 6


def test_gqa_rows_carry_the_exact_answers_and_join_to_their_images(questions, written):
    rows = _load(written, "lmms-lab-encoder/GQA", "testdev_balanced_instructions", "testdev")
    images = {row["id"]: row["image"] for row in _load(written, "lmms-lab-encoder/GQA", "testdev_balanced_images",
                                                       "testdev")}
    for row, mini in zip(rows, questions.gqa, strict=True):
        assert (row["id"], row["question"], row["answer"]) == (mini["id"], mini["question"], mini["answer"])
        assert _pixels(images[row["imageId"]]) == _mini_pixels(questions, mini["image"])


def test_multiple_choice_rows_name_the_right_option(questions, written):
    seed = _load(written, "lmms-lab-encoder/SEED-Bench", "default", "test")
    sqa = _load(written, "lmms-lab-encoder/ScienceQA", "ScienceQA-IMG", "test")
    for mini, seed_row, sqa_row in zip(questions.mmb, seed, sqa, strict=True):
        right = mini["options"][mini["answer"]]
        assert seed_row[f"choice_{seed_row['answer'].lower()}"] == right and seed_row["question_id"] == mini["id"]
        assert sqa_row["choices"] == mini["options"] and sqa_row["choices"][sqa_row["answer"]] == right
        assert sqa_row["hint"] == ""  # no "Context:" line in the prompt


@pytest.mark.parametrize("language", ["en", "cn"])
def test_mmbench_rows_are_every_rotation_of_each_question_with_its_right_letter(questions, written, language):
    rows = _load(written, "lmms-lab-encoder/MMBench", language, "dev")
    assert len(rows) == sum(len(q["options"]) for q in questions.mmb)
    for row in rows:
        number, rotation = row["index"] % ROTATION_OFFSET, row["index"] // ROTATION_OFFSET
        mini = questions.mmb[number]
        assert row["source"] == mini["id"] and row["hint"] is None
        assert [row[c] for c in LETTERS] == mini["options"][rotation:] + mini["options"][:rotation]
        assert row[row["answer"]] == mini["options"][mini["answer"]]
    assert all(row["answer"] is None for row in _load(written, "lmms-lab-encoder/MMBench", language, "test"))


def test_shr_documents_state_each_scene_and_its_image(questions, tmp_path):
    path = md.write_shr_documents(tmp_path / "shr" / "docs.jsonl", questions)
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["id"] for d in docs] == [str(md.SHR_IMAGE_ID_BASE + i) for i in range(len(questions.shr))]
    for doc, mini in zip(docs, questions.shr, strict=True):
        assert doc["factual"].splitlines() == md.shr_facts(mini["scene"])
        assert len(doc["regions"].splitlines()) == len(mini["scene"]["objects"])
        assert open(doc["image"], "rb").read() == questions.image_bytes(mini["image"])
    assert md.shr_facts(SCENES[0]) == ["A large red circle is in the top left.",
                                       "A small blue square is in the bottom center."]
