"""The caption scorer: trained on the grammar's captions only, NegCLIP swaps, retrieval, its cache beside the world."""

import ast
import inspect
import random
from dataclasses import replace

import pytest
import torch

from aspo_repro.miniworld import build, caption_clip, clip_train, grammar, judge, negatives
from aspo_repro.miniworld.build import stage_status, world_key
from aspo_repro.miniworld.caption_clip import (
    CaptionClipConfig,
    caption,
    description_sentences,
    ensure_caption_scorer,
    negclip_loss,
    scorer_dir,
    scorer_inputs,
    swapped_caption,
)
from aspo_repro.miniworld.caption_retrieval import retrieval
from aspo_repro.models import loading

TINY = CaptionClipConfig(steps=2, batch_size=8, warmup_steps=1)


def test_a_caption_is_sentences_of_the_grammars_description_of_its_scene(tiny_world):
    rng = random.Random(0)
    for scene in tiny_world.scenes("sft"):
        described = {s for seed in range(400) for s in description_sentences(scene, random.Random(seed))}
        for _ in range(10):
            sentences = [s + "." for s in caption(scene, rng)[:-1].split(". ")]
            assert set(sentences) <= described and len(set(sentences)) == len(sentences)
    # the grammar writes only what the scene holds: every sentence it writes is true of its scene
    scene = tiny_world.scenes("sft")[0]
    assert all(judge.falsity_reason(grammar.parse_sentence(s), scene) is None
               for s in description_sentences(scene, rng))


def test_training_reads_no_judge_no_negative_maker_and_no_model(tiny_world, tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the caption scorer's training must not call this")

    for module, name in ((judge, "falsity_reason"), (judge, "judge_sentence"), (judge, "judge_sentence_verdict"),
                         (judge, "judge_description"), (negatives, "false_sentence"),
                         (negatives, "true_sentences"), (clip_train, "falsity_reason"),
                         (clip_train, "false_sentence"), (clip_train, "true_sentences"),
                         (loading, "load_model_and_processor")):
        monkeypatch.setattr(module, name, forbidden)
    tree = ast.parse(inspect.getsource(caption_clip))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom | ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if "judge" in name or "negatives" in name}
    record = caption_clip.train_caption_clip(tiny_world.data_dir, tmp_path, replace(TINY, hard_negatives=True),
                                             tiny_world.config.data.image, seed=0, progress=False)
    assert record["scenes"] == len(tiny_world.scenes("sft")) and len(record["losses"]) == 2
    assert record["hard_negatives_used"] > 0
    assert (tmp_path / "open_clip_config.json").is_file() and (tmp_path / "open_clip_model.safetensors").is_file()


def test_a_swap_exchanges_two_different_words_of_one_kind():
    text = "A red circle is in the top left. A blue square is in the center."
    seen = {swapped_caption(text, random.Random(seed)) for seed in range(60)}
    assert seen == {
        "A blue circle is in the top left. A red square is in the center.",
        "A red square is in the top left. A blue circle is in the center.",
        "A red circle is in the center. A blue square is in the top left.",
    }


def test_a_caption_with_nothing_to_swap_has_no_negative():
    rng = random.Random(0)
    assert swapped_caption("There are two objects in the image.", rng) is None
    assert swapped_caption("A red circle is in the top left.", rng) is None
    assert swapped_caption("A red circle is in the top left. A red circle is in the top left.", rng) is None


def test_retrieval_on_a_hand_made_case():
    similarity = [[0.9, 0.1, 0.0],   # image 0 -> text 0: right
                  [0.8, 0.2, 0.1],   # image 1 -> text 0: wrong at 1, right at 2
                  [0.0, 0.3, 0.7]]   # image 2 -> text 2: right
    report = retrieval(similarity, ["a", "b", "c"], ks=(1, 2))
    assert report["image_to_text_r1"] == pytest.approx(2 / 3, abs=1e-4) and report["image_to_text_r2"] == 1.0
    # text 0 -> image 0 (0.9 > 0.8), text 1 -> image 2 (0.3): wrong, text 2 -> image 2
    assert report["text_to_image_r1"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["mean_r1"] == pytest.approx(2 / 3, abs=1e-4)
    # two scenes with one description: retrieving either's image or text is right
    assert retrieval(similarity, ["a", "a", "c"], ks=(1,))["image_to_text_r1"] == 1.0


def test_negclip_loss_without_negatives_is_clips_loss():
    import open_clip

    generator = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    scale = torch.tensor(10.0)
    assert negclip_loss(images, texts, scale) == pytest.approx(float(open_clip.ClipLoss()(images, texts, scale)))
    # a hard negative that is the caption itself makes the image's choice harder
    harder = negclip_loss(images, torch.cat([texts, texts[:1]]), scale)
    assert harder > negclip_loss(images, texts, scale)


def test_the_cache_is_keyed_by_the_scorer_config_beside_an_unchanged_world(tiny_world, monkeypatch):
    key_before, status_before = world_key(tiny_world.config, tiny_world.seed), stage_status(tiny_world)
    other = replace(TINY, hard_negatives=True)
    assert scorer_dir(tiny_world, TINY) != scorer_dir(tiny_world, other)
    assert scorer_inputs(tiny_world, TINY)["world"] == scorer_inputs(tiny_world, other)["world"] == tiny_world.root.name
    assert "miniworld/caption_clip.py" not in build.CODE_MODULES  # editing it never rebuilds a world

    directory = ensure_caption_scorer(tiny_world, TINY, progress=False)
    assert caption_clip.caption_scorer_built(tiny_world, TINY) and not caption_clip.caption_scorer_built(tiny_world, other)
    assert tiny_world.root not in directory.parents and directory.parent.name == tiny_world.root.name
    assert world_key(tiny_world.config, tiny_world.seed) == key_before and stage_status(tiny_world) == status_before

    monkeypatch.setattr(caption_clip, "train_caption_clip", lambda *a, **k: pytest.fail("retrained a cached scorer"))
    assert ensure_caption_scorer(tiny_world, TINY, progress=False) == directory


def test_each_world_size_has_its_scorer_and_the_full_world_the_one_retrieval_chose(tiny_world):
    from aspo_repro.miniworld.config import SIZES

    assert set(caption_clip.SIZE_CONFIGS) == set(SIZES)
    assert caption_clip.SIZE_CONFIGS["full"] == CaptionClipConfig()  # docs/scorer.md: 2000 steps, no hard negatives
    assert caption_clip.SIZE_CONFIGS["tiny"].steps < CaptionClipConfig().steps
    tiny = caption_clip.SIZE_CONFIGS[tiny_world.size]
    assert scorer_dir(tiny_world, tiny) == ensure_caption_scorer(tiny_world, progress=False)  # the size's, unasked
