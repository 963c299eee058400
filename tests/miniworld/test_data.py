"""The data files: LLaVA-Instruct format, disjoint splits, benchmark schemas, POPE's negatives."""

import json
import random
from collections import Counter

from aspo_repro.miniworld import data, judge, lexicon
from aspo_repro.miniworld.config import TINY
from aspo_repro.miniworld.scene import Scene, SceneBias, WorldObject, sample_scenes


def _check_llava_items(items, image_dir):
    for item in items:
        assert set(item) == {"id", "image", "conversations"}
        human, gpt = item["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"]
        assert (image_dir / item["image"]).is_file()


def test_instruction_files_are_llava_instruct(tiny_world):
    sft = json.loads(tiny_world.sft_json.read_text())
    pool = json.loads(tiny_world.instructions_json.read_text())
    _check_llava_items(sft, tiny_world.image_dir)
    _check_llava_items(pool, tiny_world.image_dir)
    assert len(pool) == TINY.data.pool_scenes
    assert len({item["id"] for item in sft + pool}) == len(sft) + len(pool)


def test_sft_answers_are_true_about_their_scenes(tiny_world):
    scenes = {scene.id: scene for scene in tiny_world.scenes("sft")}
    for item in json.loads(tiny_world.sft_json.read_text()):
        scene = scenes[item["image"].removesuffix(".png")]
        answer = item["conversations"][1]["value"]
        verdicts = judge.judge_description(answer, scene)
        assert all(v.hallucinated in (False, None) for v in verdicts), answer


def test_multiple_choice_answers_are_the_right_option_itself():
    from aspo_repro.miniworld import questions

    scene = sample_scenes(3, "sft", 1, SceneBias())[0]
    for seed in range(20):
        qa = questions.choice_qa(scene, random.Random(seed))
        lines = qa.prompt.splitlines()
        options = [line.split(". ", 1)[1] for line in lines[1:-1]]
        assert len(options) == 4 and options.count(qa.answer) == 1
        assert lines[-1] == lexicon.MULTIPLE_CHOICE_SUFFIX


def test_splits_are_disjoint_and_sized(tiny_world):
    ids = {split: {scene.id for scene in tiny_world.scenes(split)} for split in data.SPLITS}
    assert [len(ids[s]) for s in data.SPLITS] == [TINY.data.sft_scenes, TINY.data.pool_scenes, TINY.data.bench_scenes]
    assert not (ids["sft"] & ids["pool"]) and not (ids["sft"] & ids["bench"]) and not (ids["pool"] & ids["bench"])


def _read(world, name):
    return [json.loads(line) for line in (world.benchmark_dir / f"{name}.jsonl").read_text().splitlines()]


def test_benchmark_schemas(tiny_world):
    bench_ids = {scene.id for scene in tiny_world.scenes("bench")}
    for name in data.BENCHMARKS:
        for row in _read(tiny_world, name):
            assert (tiny_world.benchmark_dir / row["image"]).is_file()
            assert row["image"].removeprefix("images/").removesuffix(".png") in bench_ids
    pope = _read(tiny_world, "mini_pope")
    assert {row["split"] for row in pope} == set(data.POPE_SPLITS)
    assert all(set(row) == {"id", "image", "question", "answer", "split"} for row in pope)
    for split in data.POPE_SPLITS:
        answers = Counter(row["answer"] for row in pope if row["split"] == split)
        assert answers["yes"] == answers["no"] > 0
    for row in _read(tiny_world, "mini_shr"):
        assert row["question"] == lexicon.DESCRIBE_PROMPT and Scene.from_dict(row["scene"]).objects
    for row in _read(tiny_world, "mini_gqa"):
        assert row["type"] in data.GQA_TYPES and row["answer"]
    for row in _read(tiny_world, "mini_mmb"):
        assert len(row["options"]) == 4 and len(set(row["options"])) == 4 and 0 <= row["answer"] < 4


def test_pope_answers_are_the_ground_truth(tiny_world):
    scenes = {scene.id: scene for scene in tiny_world.scenes("bench")}
    for row in _read(tiny_world, "mini_pope"):
        scene = scenes[row["image"].removeprefix("images/").removesuffix(".png")]
        shape = row["question"].split()[3]
        assert row["answer"] == ("yes" if shape in scene.shapes else "no")


def test_pope_negatives_by_split():
    scene = Scene("p", (WorldObject("circle", "red", "large", 0, 0),))
    frequency = Counter({"square": 50, "star": 40, "bar": 30, "cross": 5, "ring": 1, "triangle": 2, "diamond": 3})
    together = Counter({frozenset(("circle", "ring")): 9, frozenset(("circle", "bar")): 4})
    rng = random.Random(0)
    assert data.pope_negatives(scene, 2, "popular", rng, frequency, together) == ["square", "star"]
    assert data.pope_negatives(scene, 2, "adversarial", rng, frequency, together) == ["ring", "bar"]
    random_pick = data.pope_negatives(scene, 3, "random", rng, frequency, together)
    assert len(set(random_pick)) == 3 and "circle" not in random_pick


def test_adversarial_negatives_are_the_usual_partners():
    scenes = sample_scenes(0, "sft", 2000, SceneBias())
    frequency, together = data.shape_statistics(scenes)
    scene = Scene("q", (WorldObject("triangle", "green", "large", 1, 1),))
    assert data.pope_negatives(scene, 1, "adversarial", random.Random(0), frequency, together) == ["star"]
