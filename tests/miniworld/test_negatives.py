"""The mini CLIP's training text: a scene's true sentences and hard negatives made from them."""

import random
from collections import Counter

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.judge import judge_sentence_verdict
from aspo_repro.miniworld.negatives import absent_shape, false_sentence, true_sentences
from aspo_repro.miniworld.scene import Scene, SceneBias, WorldObject, sample_scenes


def test_true_sentences_are_true_and_every_negative_is_false_for_a_reason_the_judge_names():
    rng = random.Random(0)
    reasons = Counter()
    for scene in sample_scenes(0, "sft", 300, SceneBias()):
        for sentence in true_sentences(scene, rng):
            assert judge_sentence_verdict(sentence, scene).hallucinated is False, sentence
            verdict = judge_sentence_verdict(false_sentence(sentence, scene, rng), scene)
            assert verdict.hallucinated is True
            reasons[verdict.reason] += 1
    assert set(reasons) == {"count", "object", "attribute", "position", "relation"}


def test_a_scene_has_a_count_every_object_and_a_relation_per_pair():
    scene = Scene("n", (WorldObject("circle", "red", "large", 0, 0), WorldObject("square", "blue", "small", 0, 2),
                        WorldObject("star", "yellow", "large", 2, 1)))
    sentences = true_sentences(scene, random.Random(1))
    assert sentences[0] == "There are three objects in the image."
    assert len(sentences) == 1 + 3 + 3


def test_an_absent_shape_is_a_missing_partner_when_there_is_one():
    scene = Scene("p", (WorldObject("circle", "red", "large", 0, 0),))
    assert absent_shape(scene, random.Random(0)) == lexicon.PARTNERS["circle"]
    full = Scene("f", (WorldObject("circle", "red", "large", 0, 0), WorldObject("square", "red", "large", 0, 1)))
    assert absent_shape(full, random.Random(0)) not in full.shapes
