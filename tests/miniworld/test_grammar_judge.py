"""The world's sentences and the exact rule judge, checked on hand-made scenes."""

import random

import pytest

from aspo_repro.miniworld import grammar, judge
from aspo_repro.miniworld.scene import Scene, SceneBias, WorldObject, sample_scenes

SCENE = Scene("hand", (
    WorldObject("circle", "red", "large", 0, 0),
    WorldObject("square", "blue", "small", 1, 1),
    WorldObject("star", "yellow", "large", 2, 2),
))


def test_descriptions_of_sampled_scenes_are_all_true():
    rng = random.Random(0)
    for scene in sample_scenes(3, "sft", 300, SceneBias()):
        text = grammar.describe(scene, rng)
        verdicts = judge.judge_description(text, scene)
        expected = 1 + len(scene.objects) + (len(scene.objects) >= 2)
        assert len(verdicts) == expected
        assert [v.hallucinated for v in verdicts] == [False] * expected, text


def test_a_hand_written_description():
    text = ("There are three objects in the image. A red circle is in the top left. "
            "A blue square is in the center. A yellow star is in the bottom right.")
    assert grammar.describe(SCENE, random.Random(0)).startswith(text)
    assert [v.hallucinated for v in judge.judge_description(text, SCENE)] == [False, False, False, False]


@pytest.mark.parametrize("sentence, hallucinated, reason", [
    ("There are three objects in the image.", False, None),
    ("There are two objects in the image.", True, "count"),
    ("There is one object in the image.", True, "count"),
    ("A large red circle is in the top left.", False, None),
    ("A red circle is in the top left.", False, None),
    ("A blue circle is in the top left.", True, "attribute"),
    ("A red circle is in the bottom left.", True, "position"),
    ("A large red triangle is in the top left.", True, "object"),
    ("A large green circle is in the top left.", True, "attribute"),
    ("A small red circle is in the top left.", True, "attribute"),
    ("A large red circle is in the center.", True, "position"),
    ("a  large red circle is in the top left", False, None),
    ("The red circle is to the left of the yellow star.", False, None),
    ("The red circle is above the blue square.", False, None),
    ("The red circle is below the blue square.", True, "relation"),
    ("The yellow star is to the right of the red circle.", False, None),
    ("The red circle is to the left of the green diamond.", True, "object"),
    ("The red circle is to the left of the red square.", True, "attribute"),
    ("Yes, there is a blue square in the image.", False, None),
    ("Yes, there is a red square in the image.", True, "attribute"),
    ("Yes, there is a red cross in the image.", True, "object"),
    ("No, there is no cross in the image.", False, None),
    ("No, there is no square in the image.", True, "existence"),
    ("The image shows a cat.", None, None),
    ("A large red circle", None, None),
    ("", None, None),
])
def test_sentence_verdicts(sentence, hallucinated, reason):
    verdict = judge.judge_sentence_verdict(sentence, SCENE)
    assert (verdict.hallucinated, verdict.reason) == (hallucinated, reason)
    assert judge.judge_sentence(sentence, SCENE) is hallucinated


def test_description_score_counts_sentences():
    text = ("There are two objects in the image. A large red circle is in the top left. "
            "A small blue cross is in the center. Something else.")
    score = judge.score_description(judge.judge_description(text, SCENE))
    assert (score.judged, score.hallucinated, score.unjudged, score.object_hallucinated) == (3, 2, 1, 1)
    assert score.any_hallucination


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"), ("yes.", "yes"), ("No, there is no star.", "no"), (" NO", "no"),
    ("Maybe", None), ("", None), ("There is a yes", None),
])
def test_parse_yes_no(text, expected):
    assert judge.parse_yes_no(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("B", 1), ("B.", 1), ("(C)", 2), ("a", 0), ("D something", 3), ("E", None), ("Banana", None), ("", None),
])
def test_parse_option_letter(text, expected):
    assert judge.parse_option_letter(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("C", 2), ("(a)", 0), ("blue", 1), ("Blue.", 1), ("top left", 3), ("purple", None), ("red blue", None), ("", None),
])
def test_parse_option_takes_a_letter_or_the_text_of_one_option(text, expected):
    assert judge.parse_option(text, ["red", "blue", "green", "top left"]) == expected


@pytest.mark.parametrize("text, expected", [
    ("Red.", "red"), ("three", "3"), ("3", "3"), ("Top  left", "top left"), ("", ""),
])
def test_normalise_short_answer(text, expected):
    assert judge.normalise_short_answer(text) == expected
