"""Scenes: the sampler's constraints, its co-occurrence bias, and (de)serialisation."""

from collections import Counter

import pytest

from aspo_repro.errors import UserError
from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.scene import Scene, SceneBias, WorldObject, sample_scenes


def test_scenes_follow_the_rules_and_the_seed():
    scenes = sample_scenes(7, "sft", 300, SceneBias())
    assert scenes == sample_scenes(7, "sft", 300, SceneBias())
    assert scenes != sample_scenes(8, "sft", 300, SceneBias())
    for scene in scenes:
        assert 1 <= len(scene.objects) <= lexicon.MAX_OBJECTS
        assert len(scene.shapes) == len(scene.objects)
        assert [(o.row, o.column) for o in scene.objects] == sorted((o.row, o.column) for o in scene.objects)


def test_partners_usually_appear_together():
    scenes = [s for s in sample_scenes(0, "sft", 3000, SceneBias()) if len(s.objects) >= 2]
    with_circle = [s for s in scenes if "circle" in s.shapes]
    partner_rate = sum("square" in s.shapes for s in with_circle) / len(with_circle)
    other_rate = sum("star" in s.shapes for s in with_circle) / len(with_circle)
    assert partner_rate > 0.6
    assert partner_rate > 3 * other_rate


def test_no_co_occurrence_bias_when_switched_off():
    scenes = [s for s in sample_scenes(0, "sft", 3000, SceneBias(cooccurrence=0.0)) if len(s.objects) >= 2]
    with_circle = [s for s in scenes if "circle" in s.shapes]
    assert sum("square" in s.shapes for s in with_circle) / len(with_circle) < 0.5


def test_shape_frequencies_follow_the_base_frequencies():
    counts = Counter(shape for s in sample_scenes(0, "sft", 3000, SceneBias()) for shape in s.shapes)
    assert counts["circle"] > counts["bar"]


def test_round_trip_and_reading_order():
    data = {"id": "x", "objects": [
        {"shape": "star", "colour": "red", "size": "small", "row": 2, "column": 0},
        {"shape": "circle", "colour": "blue", "size": "large", "row": 0, "column": 1},
    ]}
    scene = Scene.from_dict(data)
    assert [o.shape for o in scene.objects] == ["circle", "star"]
    assert scene.find("star") == WorldObject("star", "red", "small", 2, 0)
    assert scene.find("square") is None
    assert scene.objects[0].cell == "top center" and scene.objects[1].cell == "bottom left"
    assert Scene.from_dict(scene.to_dict()) == scene


@pytest.mark.parametrize("bad, message", [
    ({"id": "x", "objects": [{"shape": "blob", "colour": "red", "size": "small", "row": 0, "column": 0}]}, "unknown shape 'blob'; known shapes: circle"),
    ({"id": "x", "objects": [{"shape": "star", "colour": "red", "size": "small", "row": 3, "column": 0}]}, "outside the 3x3 grid"),
    ({"id": "x", "objects": []}, "holds 1 to 4 objects"),
    ({"id": "x"}, "needs 'id' and 'objects'"),
    ({"id": "x", "objects": [{"shape": "star"}]}, "malformed object"),
    ({"id": "x", "objects": [{"shape": "star", "colour": "red", "size": "small", "row": 0, "column": 0},
                             {"shape": "star", "colour": "blue", "size": "small", "row": 1, "column": 0}]}, "unique"),
])
def test_malformed_scenes_are_user_errors(bad, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        Scene.from_dict(bad)
