"""The quality measures: hand-computed scores, and one run on the tiny world."""

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.quality import (
    binary_scores,
    clip_ranking_pairs,
    description_quality,
    existence_quality,
)
from aspo_repro.miniworld.scene import Scene, WorldObject
from aspo_repro.models.loading import load_model_and_processor


def test_binary_scores_by_hand():
    scores = binary_scores(["yes", "yes", "no", None, "no"], ["yes", "no", "no", "yes", "yes"])
    # tp 1, fp 1, fn 2: precision 1/2, recall 1/3, f1 = 2 * (1/6) / (5/6) = 0.4
    assert scores == {"accuracy": 0.4, "f1": 0.4, "yes_ratio": 0.4, "unparsed": 1}


def test_clip_pairs_swap_in_the_absent_partner():
    scene = Scene("c", (WorldObject("circle", "red", "large", 0, 0), WorldObject("star", "blue", "small", 1, 1),
                        WorldObject("triangle", "green", "small", 2, 2)))
    pairs = clip_ranking_pairs([scene])
    assert pairs[0][1:] == ("A red circle is in the top left.", "A red square is in the top left.", "partner")
    assert pairs[1][3] == "random" and pairs[1][2].startswith("A blue ")
    assert pairs[1][2].split()[2] not in scene.shapes and pairs[1][2].split()[2] in lexicon.SHAPES


def test_quality_runs_on_the_tiny_world(tiny_world):
    model, processor = load_model_and_processor(tiny_world.model_dir("mini-llava-s"))
    existence = existence_quality(model, processor, tiny_world.benchmark_dir, limit=6)
    assert existence["questions"] == 6 and 0 <= existence["accuracy"] <= 1
    descriptions = description_quality(model, processor, tiny_world.benchmark_dir, limit=2)
    assert descriptions["descriptions"] == 2 and len(descriptions["examples"]) == 2


def test_partner_share_and_reasons_by_hand():
    from aspo_repro.miniworld import judge
    from aspo_repro.miniworld.quality import _partner_share, _reason_counts

    scene = Scene("h", (WorldObject("circle", "red", "large", 0, 0), WorldObject("star", "blue", "small", 1, 1)))
    text = ("There are two objects in the image. A red square is in the top left. "
            "A blue ring is in the center. A blue star is in the top left.")
    verdicts = [judge.judge_description(text, scene)]
    # square is the circle's partner, ring is nobody's here: one of two absent shapes is a partner
    assert _partner_share(verdicts, [scene]) == 0.5
    counts = _reason_counts(verdicts)
    assert counts["object"] == 2 and counts["position"] == 1 and sum(counts.values()) == 3
