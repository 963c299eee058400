"""``prefs`` on the mini world (tiny preset): the world's pool, its CLIP and its ground truth.

The tiny world's base models are trained for three steps and answer alike with either image, so
the answering model here is a random-weight toy LLaVA over the world's tokenizer (a model
directory, as a user may pass one); everything else is the mini profile's real path.
"""

from __future__ import annotations

import pytest

from aspo_repro.data import PrefsConfig, build_preferences
from aspo_repro.data.hallucination import hallucination_report
from aspo_repro.miniworld.scene import Scene, WorldObject


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory, tiny_world, tiny_llava_dir):
    config = PrefsConfig(model=str(tiny_llava_dir), instructions="mini", world_size="tiny", device="cpu",
                         out=tmp_path_factory.mktemp("mini") / "prefs", max_new_tokens=12, batch_size=4,
                         shard_size=6, progress=False)
    return build_preferences(config)


def rows(result):
    from datasets import load_from_disk

    dataset = load_from_disk(str(result.out))
    return [dataset[i] for i in range(len(dataset))]  # images decoded


def test_pairs_come_from_the_world_pool_with_their_scenes(mini_run, tiny_world):
    import numpy as np

    from aspo_repro.miniworld.render import render_scene

    kept = rows(mini_run)
    assert kept, "the toy model must keep some pairs for this test to mean anything"
    assert mini_run.manifest["source"]["world"] == tiny_world.root.name
    scenes = {scene.id: scene for scene in tiny_world.scenes("pool")}
    for row in kept:
        scene = scenes[row["id"].rsplit("-", 1)[0]]  # pool item ids are "<scene id>-<n>"
        rendered = render_scene(scene, row["images"][0].width, tiny_world.config.data.grain)
        assert np.array_equal(np.asarray(row["images"][0].convert("RGB")), np.asarray(rendered))


def test_similarities_are_the_world_caption_scorer_of_each_sentence_with_its_image(mini_run, tiny_world):
    """Mini data is scored as the paper's is, by a CLIP trained as CLIP is (the world's caption scorer),
    not by the judge-trained one."""
    from aspo_repro.aspo_choices import WORLD_SCORERS
    from aspo_repro.clip_scorer import ClipScorer

    caption_scorer = WORLD_SCORERS["captions"].checkpoint(tiny_world)
    assert caption_scorer != WORLD_SCORERS["judge-trained"].checkpoint(tiny_world)
    scorer = ClipScorer.from_dir(caption_scorer, use_disk_cache=False)
    for row in rows(mini_run):
        sentences = [row["chosen"][s:e] for s, e in row["chosen_sentence_spans"]]
        expected = scorer.score([row["images"][0]] * len(sentences), sentences).tolist()
        assert row["chosen_sentence_similarity"] == pytest.approx(expected, abs=1e-5)
    assert mini_run.manifest["clip"]["clip"] == str(caption_scorer)
    assert mini_run.manifest["settings"]["data_scorer"] == "captions"


def test_each_chosen_sentence_carries_the_exact_judges_verdict(mini_run, tiny_world):
    """Mini data holds the verdicts aspo-oracle weights by: 1 correct, 0 hallucinated, -1 cannot judge."""
    from aspo_repro.miniworld.judge import judge_sentence

    codes = {False: 1, True: 0, None: -1}
    scenes = {scene.id: scene for scene in tiny_world.scenes("pool")}
    for row in rows(mini_run):
        scene = scenes[row["id"].rsplit("-", 1)[0]]
        expected = [codes[judge_sentence(row["chosen"][s:e], scene)] for s, e in row["chosen_sentence_spans"]]
        assert row["chosen_sentence_verdict"] == expected


def test_the_manifest_reports_ground_truth_for_the_kept_pairs(mini_run):
    truth = mini_run.manifest["ground_truth"]
    counts = mini_run.manifest["counts"]
    assert truth["pairs"] == counts["kept"]
    assert sum(truth["pairs_by_more_hallucinated_sentences"].values()) == counts["kept"]
    for side in ("chosen", "rejected"):
        assert truth[side]["answers"] == counts["kept"] and truth[side]["judged"] <= truth[side]["sentences"]


SCENE = Scene("s", (WorldObject("circle", "red", "large", 0, 0), WorldObject("square", "blue", "small", 2, 2)))


def test_hallucination_report_by_hand():
    rows = [
        {"id": "a", "chosen": "There are two objects in the image. A large red circle is in the top left.",
         "rejected": "There are three objects in the image. A large red star is in the top left."},
        {"id": "b", "chosen": "A small blue square is in the bottom right. Nice picture.",
         "rejected": "A small blue square is in the bottom right. No, there is no circle in the image."},
        {"id": "c", "chosen": "A large red circle is in the center.", "rejected": "Blue."},
    ]
    report = hallucination_report(rows, lambda _: SCENE)
    # chosen: 2 true (a), 1 true + 1 unjudged (b), 1 false position (c) -> 1 of 4 judged
    assert report["chosen"]["judged"] == 4 and report["chosen"]["hallucinated"] == 1
    assert report["chosen"]["sentences"] == 5 and report["chosen"]["sentence_hallucination_rate"] == 0.25
    # rejected: 2 false (a), 1 true + 1 false existence (b), 1 unjudged (c) -> 3 of 4 judged
    assert report["rejected"]["judged"] == 4 and report["rejected"]["hallucinated"] == 3
    assert report["rejected"]["answers_judged"] == 2 and report["rejected"]["answers_hallucinating_share"] == 1.0
    assert report["chosen"]["answers_hallucinating_share"] == pytest.approx(1 / 3)
    assert report["pairs_by_more_hallucinated_sentences"] == {"rejected_more": 2, "chosen_more": 1, "equal": 0}
    assert report["chosen"]["by_reason"] == {"position": 1}
    assert report["rejected"]["by_reason"] == {"count": 1, "existence": 1, "object": 1}
