"""``prefs diagnose``: the exact judge's verdicts against pairs whose answers are known sentences of
the tiny world's scenes, so every number the diagnosis reports is known in advance."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path

import pytest

from aspo_repro.cli import main
from aspo_repro.data.diagnostics import (
    ChosenSentence,
    _clamped_share,
    auc,
    diagnose,
    gradient_scales,
    weight_label,
    weighted_methods,
)
from aspo_repro.errors import UserError
from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.segmentation import sentence_spans

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from prefdata import image, save_prefs  # noqa: E402

PAIRS = 6


def absent(scene):
    """An object the scene does not hold: a shape none of its objects has."""
    shape = next(s for s in lexicon.SHAPES if s not in {o.shape for o in scene.objects})
    return dataclasses.replace(scene.objects[0], shape=shape)


def write_pairs(directory: Path, world, correct_similarity: float, hallucinated_similarity: float) -> Path:
    """Chosen: two true object sentences and one false; rejected: one true and two false (and a count claim
    one higher). Similarities set per class."""
    from aspo_repro.data.diagnostics import scene_lookup

    scene_of = scene_lookup(world)
    records = [r for r in json.loads(Path(world.instructions_json).read_text())
               if len(scene_of(str(r["id"])).objects) + 1 < len(lexicon.NUMBER_WORDS)][:PAIRS]
    rng = random.Random(0)
    rows = []
    for record in records:
        scene = scene_of(str(record["id"]))
        true = [grammar.object_sentence(scene.objects[k % len(scene.objects)]) for k in range(2)]
        false = grammar.object_sentence(absent(scene))
        count = len(scene.objects)
        chosen = " ".join([grammar.count_sentence(count), true[0], false, true[1]])
        rejected = " ".join([grammar.count_sentence(count + 1), true[0], false, false])
        spans = [list(span) for span in sentence_spans(chosen)]
        similarity = [correct_similarity, correct_similarity, hallucinated_similarity, correct_similarity]
        rows.append({"id": str(record["id"]), "images": [image(rng)], "prompt": "Describe the image.",
                     "chosen": chosen, "rejected": rejected, "chosen_sentence_spans": spans,
                     "chosen_sentence_similarity": similarity})
    return save_prefs(directory, rows, {"settings": {"model": "mini-llava-s", "world": {"seed": 0, "size": "tiny"}}})


def test_weights_that_follow_the_truth_have_auc_one_and_the_reverse_zero(tmp_path, tiny_world):
    following = diagnose(write_pairs(tmp_path / "good", tiny_world, 0.9, 0.1), world=tiny_world, perplexity=False)
    reversed_ = diagnose(write_pairs(tmp_path / "bad", tiny_world, 0.1, 0.9), world=tiny_world, perplexity=False)

    assert following["weights"]["sentences"] == {"correct": 3 * PAIRS, "hallucinated": PAIRS}
    assert set(following["weights"]) == {"sentences", "auc_raw_similarity", "auc_within_answer_raw_similarity", "aspo-s"}
    weight = following["weights"]["aspo-s"]
    assert weight["auc"] == {"value": 1.0, "ci95": [1.0, 1.0]}
    assert weight["auc_within_answer"] == {"value": 1.0, "ci95": [1.0, 1.0], "answers": PAIRS}
    assert reversed_["weights"]["aspo-s"]["auc"]["value"] == 0.0
    assert reversed_["weights"]["aspo-s"]["auc_within_answer"]["value"] == 0.0
    # every pair: the rejected answer claims one object more, is as long, and hallucinates more
    confounds = following["confounds"]
    assert confounds["hallucinated_at_equal_length"] == {"rejected_more": PAIRS, "chosen_more": 0, "equal": 0,
                                                          "not_comparable": 0}
    assert weight["mean_weight"] == {"correct": 1.0, "hallucinated": 0.0}
    assert weight["gradient_scale"]["correct"] > 1.0 > weight["gradient_scale"]["hallucinated"]


def test_a_given_scorer_replaces_the_similarities_the_data_holds(tmp_path, tiny_world):
    from aspo_repro.data.diagnostics import scene_lookup

    directory = write_pairs(tmp_path / "prefs", tiny_world, 0.1, 0.9)  # the data's similarities: reversed
    scene_of = scene_lookup(tiny_world)
    false = {grammar.object_sentence(absent(scene_of(str(r["id"]))))
             for r in json.loads(Path(tiny_world.instructions_json).read_text())}
    calls = []

    def truthful(images, sentences):  # the hallucinated sentences write_pairs puts in the chosen answers: 0
        calls.append(len(images))
        return [0.0 if text in false else 1.0 for text in sentences]

    report = diagnose(directory, world=tiny_world, perplexity=False, scorer=truthful, scorer_name="truthful")
    assert calls == [4 * PAIRS] and report["similarity"] == "truthful"
    assert report["weights"]["aspo-s"]["auc_within_answer"]["value"] == 1.0
    stored = diagnose(directory, world=tiny_world, perplexity=False)
    assert stored["weights"]["aspo-s"]["auc_within_answer"]["value"] == 0.0 and "similarity" not in stored


def test_another_scorer_is_measured_beside_the_datas_similarities(tmp_path, tiny_world):
    """``other_scorers``: the weights again with each one's similarities (``weights_by_scorer``), the
    data's own untouched: a truthful scorer beside reversed data."""
    from aspo_repro.data.diagnostics import scene_lookup

    directory = write_pairs(tmp_path / "prefs", tiny_world, 0.1, 0.9)
    scene_of = scene_lookup(tiny_world)
    false = {grammar.object_sentence(absent(scene_of(str(r["id"]))))
             for r in json.loads(Path(tiny_world.instructions_json).read_text())}

    def truthful(images, sentences):
        return [0.0 if text in false else 1.0 for text in sentences]

    report = diagnose(directory, world=tiny_world, perplexity=False, other_scorers={"truthful": truthful})
    assert report["weights"]["aspo-s"]["auc_within_answer"]["value"] == 0.0
    assert report["weights_by_scorer"]["truthful"]["aspo-s"]["auc_within_answer"]["value"] == 1.0
    assert "similarity" not in report
    assert "weights_by_scorer" not in diagnose(directory, world=tiny_world, perplexity=False)


def test_perplexity_weights_come_from_the_base_model_as_training_formats_the_answer(tmp_path, tiny_world, monkeypatch,
                                                                                 capsys):
    from aspo_repro.data import diagnostics
    from aspo_repro.data.diagnostics import compute_sentence_nlls, sentence_nlls
    from aspo_repro.miniworld.cache import beside_world
    from aspo_repro.training.preferences import open_preferences

    directory = write_pairs(tmp_path / "prefs", tiny_world, 0.9, 0.1)
    nll = sentence_nlls(open_preferences(directory), tiny_world)
    assert [len(values) for values in nll] == [4] * PAIRS and all(v > 0 for values in nll for v in values)
    # kept beside the world: the report's first pairs are the diagnosis's, read back, not computed again
    opened = open_preferences(directory)
    assert sentence_nlls(opened, tiny_world, count=2) == compute_sentence_nlls(
        opened.manifest, opened.dataset.select(range(2)), tiny_world) == nll[:2]
    kept = [path for path in beside_world(tiny_world, diagnostics.NLL_CACHE, "").glob("*.json")
            if json.loads(path.read_text())["nlls"] == nll]
    computed = diagnostics.compute_sentence_nlls
    monkeypatch.setattr(diagnostics, "compute_sentence_nlls", lambda *a: pytest.fail("computed again"))
    assert sentence_nlls(opened, tiny_world) == nll
    # a damaged file is said and computed again, and kept whole again
    assert len(kept) == 1
    kept[0].write_text('{"nlls": [[0.1')
    monkeypatch.setattr(diagnostics, "compute_sentence_nlls", computed)
    assert sentence_nlls(opened, tiny_world) == nll
    assert "kept sentence NLLs" in capsys.readouterr().err
    assert json.loads(kept[0].read_text())["nlls"] == nll
    report = diagnose(directory, world=tiny_world)["weights"]
    for method in ("aspo-p", "aspo"):
        assert 0.0 <= report[method]["auc"]["value"] <= 1.0
    # S+P is the mean of S^ and P^ (alpha 0.5), so its mean weights lie between theirs
    for side in ("correct", "hallucinated"):
        low, high = sorted((report["aspo-s"]["mean_weight"][side], report["aspo-p"]["mean_weight"][side]))
        assert low - 1e-4 <= report["aspo"]["mean_weight"][side] <= high + 1e-4


def test_the_answers_and_their_confounds_are_counted(tmp_path, tiny_world):
    report = diagnose(write_pairs(tmp_path / "prefs", tiny_world, 0.9, 0.1), world=tiny_world, perplexity=False)
    chosen, rejected = report["answers"]["chosen"], report["answers"]["rejected"]
    assert chosen["sentence_hallucination_rate"] == pytest.approx(1 / 4)
    assert rejected["sentence_hallucination_rate"] == pytest.approx(3 / 4)  # the count one higher is false too
    assert (chosen["correct_per_answer"], rejected["hallucinated_per_answer"]) == (3.0, 3.0)
    confounds = report["confounds"]
    assert confounds["hallucinated_sentences"]["rejected_more"] == PAIRS
    assert confounds["claimed_count"]["rejected_more"] == PAIRS
    assert confounds["sentences"]["equal"] == PAIRS


def test_auc_ties_count_half_and_one_class_gives_none():
    assert auc([0.5, 0.5], [False, True]) == 0.5
    assert auc([0.2, 0.8, 0.4], [False, True, False]) == 0.0
    assert auc([0.1, 0.2], [False, False]) is None


@pytest.mark.parametrize("seed", range(20))
def test_auc_is_sklearns_and_the_share_of_pairs_won(seed):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 400))
    scores = rng.integers(0, int(rng.integers(2, 50)), size) / 7.0  # many ties
    hallucinated = rng.random(size) < rng.uniform(0.05, 0.95)
    hallucinated[:2] = [True, False]
    correct = ~hallucinated
    difference = scores[correct][:, None] - scores[hallucinated][None, :]
    won = ((difference > 0).sum() + 0.5 * (difference == 0).sum()) / difference.size
    assert auc(scores, hallucinated) == pytest.approx(won, abs=1e-12)
    assert auc(scores, hallucinated) == pytest.approx(roc_auc_score(correct, scores), abs=1e-12)


def test_c_keeps_an_answer_scale_at_equal_rewards_within_its_clamp():
    equal = [ChosenSentence(0, 4, 0.0, {"aspo-s": w}, h) for w, h in ((1.0, False), (0.0, True))]
    scales = gradient_scales(equal, "aspo-s")
    assert sum(s * 4 for s in scales) == pytest.approx(8)  # c (1 + w) redistributes, its sum is DPO's
    heavy = [ChosenSentence(1, 4, 0.0, {"aspo-s": 1.0}, False), ChosenSentence(1, 4, 0.0, {"aspo-s": 1.0}, False)]
    assert gradient_scales(heavy, "aspo-s") == [pytest.approx(1.0), pytest.approx(1.0)]  # c clamped at 0.5


def test_c_is_the_losss_normaliser_unclamped_below_its_range():
    """c = sum n_i / sum (1 + w_i) n_i is 1/2 when every weight is 1: at the clamp, not below it."""
    heavy = [ChosenSentence(0, 4, 0.0, {"aspo-s": 1.0}, False), ChosenSentence(0, 3, 0.0, {"aspo-s": 1.0}, False)]
    light = [ChosenSentence(1, 4, 0.0, {"aspo-s": 0.0}, False), ChosenSentence(1, 3, 0.0, {"aspo-s": 0.5}, True)]
    assert _clamped_share(heavy + light, "aspo-s") == 0.0
    assert gradient_scales(light, "aspo-s") == [pytest.approx(7 / 8.5), pytest.approx(7 / 8.5 * 1.5)]


def test_the_weights_measured_are_the_registrys_sentence_methods_in_table_5s_order(monkeypatch):
    from aspo_repro import methods

    assert [(m.name, weight_label(m)) for m in weighted_methods()] == [("aspo-s", "S"), ("aspo-p", "P"), ("aspo", "S+P")]
    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))
    methods.register(methods.Method("aspo-s-unnormalised", "aspo", "for this test", alpha=1.0, norm="none"))
    assert [m.name for m in weighted_methods()] == ["aspo-s", "aspo-s-unnormalised", "aspo-p", "aspo"]


def test_the_command_prints_and_writes_it_and_refuses_paper_data(tmp_path, tiny_world, capsys, monkeypatch):
    import aspo_repro.data.diagnostics as diagnostics

    directory = write_pairs(tmp_path / "prefs", tiny_world, 0.9, 0.1)
    monkeypatch.setattr(diagnostics, "recorded_world", lambda settings: tiny_world)
    assert main(["prefs", "diagnose", str(directory), "--out", str(tmp_path / "d.json"), "--no-perplexity"]) == 0
    assert "aspo-s" in capsys.readouterr().out
    assert json.loads((tmp_path / "d.json").read_text())["pairs"] == PAIRS
    clip = str(tiny_world.clip_stage_dir("clip"))  # another CLIP than the one the data holds similarities of
    assert main(["prefs", "diagnose", str(directory), "--out", str(tmp_path / "c.json"), "--no-perplexity",
                 "--clip", clip]) == 0
    rescored = json.loads((tmp_path / "c.json").read_text())
    assert rescored["similarity"] == clip
    assert rescored["weights"]["aspo-s"]["auc"] != {"value": 1.0, "ci95": [1.0, 1.0]}  # no longer the data's
    assert main(["prefs", "diagnose", str(directory), "--no-perplexity", "--clip", "no-such-clip"]) == 2
    (directory / "manifest.json").write_text(json.dumps({"settings": {"world": None}}))
    with pytest.raises(UserError, match="only mini preference data has the ground truth"):
        diagnose(directory)


def test_the_within_answer_auc_compares_sentences_of_one_answer_only():
    """Answer 0's sentences all score high and answer 1's low: pooled, the hallucinated sentence of
    answer 0 outranks answer 1's correct one, but within each answer the correct one is on top."""
    from aspo_repro.data.diagnostics import within_answer_auc

    sentences = [ChosenSentence(0, 5, 0.9, {}, False), ChosenSentence(0, 5, 0.8, {}, True),
                 ChosenSentence(1, 5, 0.3, {}, False), ChosenSentence(1, 5, 0.2, {}, True),
                 ChosenSentence(2, 5, 0.5, {}, False)]  # no hallucinated sentence: no comparison
    within = within_answer_auc(sentences, lambda s: s.similarity)
    assert within["value"] == 1.0 and within["answers"] == 2
    assert auc([s.similarity for s in sentences], [s.hallucinated for s in sentences]) < 1.0
