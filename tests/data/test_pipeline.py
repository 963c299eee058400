"""The whole ``prefs`` run on a tiny random-weight LLaVA: schema, counts, noise, resume, errors."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from prefs_helpers import QUESTIONS, broken_source, fake_similarity, load_tiny, write_source

from aspo_repro.data import PrefsConfig, build_preferences, pipeline
from aspo_repro.data.generation import answer_pairs, prepare_for_generation
from aspo_repro.data.noise import add_diffusion_noise, noise_seed
from aspo_repro.data.shards import work_directory
from aspo_repro.errors import UserError
from aspo_repro.segmentation import sentence_spans

COUNT = 6


def config_for(tmp_path, json_path, image_dir, out_name="prefs", **overrides) -> PrefsConfig:
    settings = dict(model="tiny-llava", instructions=str(json_path), image_dir=image_dir, out=tmp_path / out_name,
                    batch_size=2, max_new_tokens=8, shard_size=3, progress=False)
    return PrefsConfig(**{**settings, **overrides})


def all_rows(directory):
    """Every row, images as their stored bytes."""
    from datasets import Image, List, load_from_disk

    return load_from_disk(str(directory)).cast_column("images", List(Image(decode=False))).to_list()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp("source"), COUNT)


@pytest.fixture(scope="module")
def built(tmp_path_factory, source, tiny_llava):
    """One uninterrupted run, shared by the tests that read it."""
    from prefs_helpers import fake_scorer

    from aspo_repro.data import Backends

    config = config_for(tmp_path_factory.mktemp("built"), *source)
    backends = Backends(load_model=lambda: tiny_llava, load_scorer=lambda: fake_scorer)
    return config, build_preferences(config, backends)


def test_pairs_follow_the_training_schema(built, source):
    from aspo_repro.training.preferences import read_preferences

    config, result = built
    rows = all_rows(config.out)
    assert rows, "the tiny model must keep some pairs for this test to mean anything"
    preferences = read_preferences(config.out)  # the training reader accepts the directory as written
    assert preferences.total_rows == len(rows) and preferences.skipped.total == 0
    assert preferences.manifest["counts"]["kept"] == len(rows)
    _, image_dir = source
    for row in rows:
        index = int(row["id"][3:])
        assert row["prompt"] == QUESTIONS[index % len(QUESTIONS)]
        assert row["images"][0]["bytes"] == (image_dir / f"{index:012d}.png").read_bytes()
        assert row["chosen"].strip() and row["chosen"].strip() != row["rejected"].strip()
        assert [tuple(s) for s in row["chosen_sentence_spans"]] == sentence_spans(row["chosen"])


def test_each_sentence_is_scored_against_its_own_image(built, source):
    from PIL import Image

    config, _ = built
    _, image_dir = source
    for row in all_rows(config.out):
        image = Image.open(image_dir / f"{int(row['id'][3:]):012d}.png").convert("RGB")
        expected = [fake_similarity(image, row["chosen"][s:e]) for s, e in row["chosen_sentence_spans"]]
        assert row["chosen_sentence_similarity"] == pytest.approx(expected, abs=1e-6)


def test_counts_partition_the_instructions_and_the_manifest_records_the_run(built):
    config, result = built
    manifest = json.loads((config.out / "manifest.json").read_text())
    counts = manifest["counts"]
    kept_ids = [row["id"] for row in all_rows(config.out)]
    dropped = manifest["dropped_identical_ids"] + manifest["dropped_empty_ids"]
    assert sorted(kept_ids + dropped) == [f"rec{i:03d}" for i in range(COUNT)]
    assert counts["instructions"] == COUNT and counts["kept"] == len(kept_ids)
    assert counts["dropped_identical_share"] == pytest.approx(counts["dropped_identical"] / COUNT)
    assert manifest["noise"]["step"] == 500 and manifest["noise"]["beta_schedule"] == "sigmoid"
    assert manifest["model"]["name"] == "tiny-llava" and manifest["provenance"]["packages"]["diffusers"]
    assert manifest["throughput"]["pairs_per_second"] > 0
    assert not work_directory(config.out).exists()


def test_dropped_pairs_are_exactly_the_identical_answers(source, tiny_llava, built):
    """Answer the instructions one by one, outside the pipeline, and compare its choices."""
    from aspo_repro.data.instructions import read_instructions

    config, result = built
    model, processor = tiny_llava
    prepare_for_generation(model, processor)
    identical = []
    for instruction in read_instructions(*source).instructions:
        image = pipeline.load_image(instruction)
        pair = answer_pairs(model, processor, [image], [instruction.prompt], [noise_seed(0, instruction.id)],
                            noise_step=500, max_new_tokens=8)[0]
        if pair.chosen.strip() == pair.rejected.strip():
            identical.append(instruction.id)
    assert result.manifest["dropped_identical_ids"] == identical


def test_the_model_sees_the_clean_and_the_noised_pixel_tensor(tiny_llava_dir, source):
    from PIL import Image

    model, processor = load_tiny(tiny_llava_dir)
    prepare_for_generation(model, processor)
    seen = {}
    original = model.generate

    def spy(**inputs):
        seen["pixel_values"] = inputs["pixel_values"].clone()
        return original(**inputs)

    model.generate = spy
    _, image_dir = source
    images = [Image.open(image_dir / f"{i:012d}.png").convert("RGB") for i in range(2)]
    answer_pairs(model, processor, images, ["What?", "Where?"], [5, 6], noise_step=500, max_new_tokens=2)
    clean = processor.image_processor(images, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(seen["pixel_values"][:2], clean)
    torch.testing.assert_close(seen["pixel_values"][2:], add_diffusion_noise(clean, 500, [5, 6]))


def test_interrupted_run_resumes_to_the_same_dataset(tmp_path, source, tiny_backends, built, monkeypatch):
    uninterrupted_config, _ = built
    config = config_for(tmp_path, *source, out_name="resumed")
    real_write = pipeline.write_shard
    written = []

    def write_then_crash(*args, **kwargs):
        if len(written) == 1:
            raise KeyboardInterrupt
        written.append(real_write(*args, **kwargs))

    monkeypatch.setattr(pipeline, "write_shard", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        build_preferences(config, tiny_backends)
    assert not config.out.exists()
    assert [p.name for p in written] == ["shard-0000000-0000003"]
    monkeypatch.setattr(pipeline, "write_shard", real_write)
    answered = []
    real_process = pipeline.process_shard
    monkeypatch.setattr(pipeline, "process_shard",
                        lambda cfg, batch, *a, **k: answered.extend(i.id for i in batch) or real_process(cfg, batch, *a, **k))
    result = build_preferences(config, tiny_backends)
    assert answered == [f"rec{i:03d}" for i in range(3, COUNT)]  # the finished shard is not redone
    assert all_rows(config.out) == all_rows(uninterrupted_config.out)
    assert result.manifest["counts"] == json.loads((uninterrupted_config.out / "manifest.json").read_text())["counts"]


def test_batch_size_does_not_change_the_pairs(tmp_path, source, tiny_backends, built):
    uninterrupted_config, _ = built
    config = config_for(tmp_path, *source, out_name="batch3", batch_size=3)
    build_preferences(config, tiny_backends)
    assert all_rows(config.out) == all_rows(uninterrupted_config.out)


def test_a_finished_run_is_kept_and_other_settings_are_refused(tmp_path, source, tiny_backends, built):
    config, _ = built
    loads = len(tiny_backends.loads)
    again = build_preferences(config, tiny_backends)
    assert again.already_complete and len(tiny_backends.loads) == loads
    with pytest.raises(UserError, match="other settings"):
        build_preferences(dataclasses.replace(config, noise_step=400), tiny_backends)


def test_a_bad_record_stops_before_anything_is_written(tmp_path, tiny_backends):
    json_path, image_dir = broken_source(tmp_path / "broken")
    config = config_for(tmp_path, json_path, image_dir)
    with pytest.raises(UserError, match="record no-file: image file .* does not exist"):
        build_preferences(config, tiny_backends)
    assert not config.out.exists() and not work_directory(config.out).exists()
    assert tiny_backends.loads == []


def test_skip_leaves_bad_records_out_and_counts_them(tmp_path, tiny_backends, monkeypatch):
    from aspo_repro.data.generation import AnswerPair

    # The policy is under test here, not the model: every pair differs.
    monkeypatch.setattr(pipeline, "answer_pairs", lambda model, processor, images, *a, **k: [
        AnswerPair("A clean answer.", "A noisy answer.") for _ in images])
    json_path, image_dir = broken_source(tmp_path / "broken")
    result = build_preferences(config_for(tmp_path, json_path, image_dir, on_error="skip"), tiny_backends)
    manifest = result.manifest
    assert manifest["counts"]["skipped_bad_records"] == 5
    assert manifest["counts"]["instructions"] == 2 and manifest["counts"]["kept"] == 2
    assert {r["id"] for r in manifest["skipped_records"]} == {"no-file", "garbled", "bad-turns", "silent", "#6"}
    assert [row["id"] for row in all_rows(result.out)] == ["rec000", "rec001"]


def test_classify_pair():
    assert pipeline.classify_pair("A cat.", " A cat. ") == "identical"
    assert pipeline.classify_pair("", "A cat.") == "empty"
    assert pipeline.classify_pair("A cat.", "A dog.") == "keep"


@pytest.mark.parametrize("bad", [dict(batch_size=0), dict(noise_step=1000), dict(limit=0), dict(image_dir=None),
                                 dict(data_scorer="judge")])
def test_bad_settings_are_user_errors(tmp_path, bad):
    settings = dict(model="m", instructions="x.json", image_dir=tmp_path, out=tmp_path / "out")
    with pytest.raises(UserError):
        PrefsConfig(**{**settings, **bad})


def test_mini_data_names_the_world_scorer_that_scored_it_in_its_fingerprint():
    """Data scored by another of the world's scorers is other data: its settings (the resume fingerprint)
    differ; data of a given CLIP, or of a JSON source, names none."""
    captions, judged = PrefsConfig(model="m"), PrefsConfig(model="m", data_scorer="judge-trained")
    assert captions.settings()["data_scorer"] == "captions" and judged.settings()["data_scorer"] == "judge-trained"
    assert "data_scorer" not in PrefsConfig(model="m", clip="ViT-B-32/openai").settings()


def test_a_run_that_keeps_nothing_says_so(tmp_path, source, tiny_backends, monkeypatch):
    from aspo_repro.data.generation import AnswerPair

    monkeypatch.setattr(pipeline, "answer_pairs", lambda model, processor, images, *a, **k: [
        AnswerPair("Same answer.", "Same answer.") for _ in images])
    with pytest.raises(UserError, match=f"no pair kept of {COUNT} instructions \\({COUNT} identical"):
        build_preferences(config_for(tmp_path, *source), tiny_backends)
