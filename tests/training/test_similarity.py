"""Where a run's similarities come from: the data's, or a scorer that scores every sentence again (captions)."""

from types import SimpleNamespace

import pytest
from PIL import Image

from aspo_repro.errors import UserError
from aspo_repro.methods import get_method
from aspo_repro.miniworld import judge_trained
from aspo_repro.training.config import TrainConfig
from aspo_repro.training.similarity import CachedScorer, similarity_record, similarity_scorer

MINI = {"settings": {"world": {"seed": 0, "size": "tiny"}}}


def prefs(manifest):
    return SimpleNamespace(manifest=manifest, has_similarity=True)


def test_only_a_caption_scored_similarity_weight_rescores_what_the_data_holds():
    assert get_method("aspo-s", scorer="judge-trained").recomputes_similarity
    assert get_method("aspo", scorer="judge-trained").recomputes_similarity
    for name in ("aspo-s", "aspo", "aspo-p", "aspo-oracle", "dpo"):
        assert not get_method(name).recomputes_similarity
    assert not get_method("aspo-p", scorer="judge-trained").recomputes_similarity  # alpha 0: no similarity
    assert get_method("aspo", scorer="judge-trained").rescorer == "judge-trained"
    assert get_method("aspo").rescorer is None and get_method("aspo-p", scorer="judge-trained").rescorer is None
    assert similarity_scorer(get_method("aspo-s"), TrainConfig(), prefs(MINI), None) is None  # the data's


def test_the_judge_trained_scorer_comes_from_the_datas_world(tiny_world, monkeypatch):
    from aspo_repro.miniworld import obtain

    asked = []
    monkeypatch.setattr(obtain, "obtain_world", lambda **settings: asked.append(settings) or tiny_world)
    method = get_method("aspo-s", scorer="judge-trained")
    scorer = similarity_scorer(method, TrainConfig(), prefs(MINI), None)
    assert isinstance(scorer, CachedScorer) and asked == [{"seed": 0, "size": "tiny", "replicate": 0, "progress": True}]
    values = scorer(Image.new("RGB", (48, 48)), ["A red circle is in the center.", "There is one object in the image."])
    assert len(values) == 2 and values[0] != values[1]
    assert similarity_record(method, scorer) == {"source": "computed", "scored_pairs": 2, "scorer": "judge-trained"}
    with pytest.raises(UserError, match="needs mini preference data"):
        similarity_scorer(method, TrainConfig(), prefs({"settings": {}}), None)


def test_the_scorer_comes_from_the_world_the_run_is_given_when_it_is_the_datas(tiny_world, monkeypatch):
    """Under --cache-dir the run's world lives outside the default cache: the scorer step trained the
    scorer there, so training must take it there rather than build the world again in the default cache."""
    from aspo_repro.miniworld import obtain
    from aspo_repro.training.similarity import own_checkpoint

    asked = []
    monkeypatch.setattr(obtain, "obtain_world", lambda **settings: asked.append(settings) or tiny_world)
    monkeypatch.setattr(judge_trained, "ensure_judge_trained_scorer", lambda world, **_: world.root / "scorer")
    method = get_method("aspo-s", scorer="judge-trained")
    data_world = {"settings": {"world": {"seed": tiny_world.seed, "size": tiny_world.size}}}
    assert own_checkpoint(method, data_world, tiny_world) == tiny_world.root / "scorer" and asked == []
    other = {"settings": {"world": {"seed": tiny_world.seed + 1, "size": tiny_world.size}}}
    assert own_checkpoint(method, other, tiny_world) == tiny_world.root / "scorer"  # obtained: the stand-in
    assert asked == [{"seed": tiny_world.seed + 1, "size": tiny_world.size, "replicate": 0, "progress": True}]


def test_the_auc_of_noisy_verdicts_is_one_minus_the_flipped_share():
    """similarity_auc ranks each answer's sentences by what the collator hands the loss: the judge's
    verdicts with a share p flipped give a within-answer AUC near 1 - p (unjudgeable sentences left out)."""
    import random
    from types import SimpleNamespace

    from aspo_repro.training.formatting import verdict_weights
    from aspo_repro.training.similarity import similarity_auc

    rng = random.Random(0)
    verdicts = {f"pair-{i}": [rng.choice([1, 1, 0, -1]) for _ in range(rng.randint(2, 6))] for i in range(600)}
    preferences = SimpleNamespace(dataset={"id": list(verdicts), "chosen_sentence_verdict": list(verdicts.values())})
    formatted = [{"id": key} for key in verdicts]
    for flip in (0.0, 0.3, 0.5, 1.0):
        collator = SimpleNamespace(unit_similarities=lambda example, p=flip: verdict_weights(
            example["id"], verdicts[example["id"]], p))
        auc = similarity_auc(collator, formatted, preferences)
        assert abs(auc["value"] - (1 - flip)) < 0.05, (flip, auc)
        assert auc["ci95"][0] <= auc["value"] <= auc["ci95"][1]


def test_a_pair_whose_chosen_answer_is_not_the_one_judged_is_left_out_of_the_auc_and_counted():
    """Chosen and rejected swapped in a trained pair (a damaged pair; a regression mutant swaps a fifth):
    the verdicts the data holds belong to the other answer. The measurement leaves the pair out and says
    so instead of failing the finished run."""
    from types import SimpleNamespace

    from aspo_repro.training.preferences import CORRECT, HALLUCINATED, VERDICT_COLUMN
    from aspo_repro.training.similarity import similarity_auc

    data = {"id": ["a", "b"], VERDICT_COLUMN: [[CORRECT, HALLUCINATED], [CORRECT, HALLUCINATED]]}
    preferences = SimpleNamespace(dataset=data)
    trained = [{"id": "a", "scores": [0.9, 0.1]}, {"id": "b", "scores": [0.2, 0.8, 0.5]}]  # b: another answer
    collator = SimpleNamespace(unit_similarities=lambda example: example["scores"])
    auc = similarity_auc(collator, trained, preferences)
    assert auc["value"] == 1.0 and auc["pairs_left_out"] == 1
