"""ClipScorer: cosine similarities from open_clip, batched, cached on disk by content."""

import open_clip
import pytest
import torch
from PIL import Image

from aspo_repro.clip_scorer import ClipScorer, image_digest
from aspo_repro.errors import UserError
from aspo_repro.miniworld import grammar
from aspo_repro.miniworld.render import render_scene


@pytest.fixture(scope="module")
def checkpoint(tiny_world):
    """The tiny world's judge-trained scorer, an open_clip ``local-dir`` checkpoint."""
    from aspo_repro.miniworld.judge_trained import ensure_judge_trained_scorer

    return ensure_judge_trained_scorer(tiny_world, progress=False)


def _pairs(tiny_world):
    scenes = tiny_world.scenes("bench")[:3]
    images = [render_scene(scene) for scene in scenes]
    sentences = [grammar.object_sentence(scene.objects[0]) for scene in scenes]
    return images, sentences


def test_scores_are_the_cosine_similarities_of_the_open_clip_embeddings(tiny_world, checkpoint, tmp_path):
    images, sentences = _pairs(tiny_world)
    scorer = ClipScorer.from_dir(checkpoint, cache_dir=tmp_path, batch_size=2)
    scores = scorer.score(images, sentences)
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{checkpoint}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{checkpoint}")
    with torch.no_grad():
        image_features = model.encode_image(torch.stack([preprocess(im) for im in images]), normalize=True)
        text_features = model.encode_text(tokenizer(sentences), normalize=True)
    assert scores.shape == (3,) and scores.dtype == torch.float32
    assert torch.allclose(scores, (image_features * text_features).sum(-1), atol=1e-5)
    assert torch.all(scores.abs() <= 1.0001)


def test_a_second_scorer_reads_the_disk_cache(tiny_world, checkpoint, tmp_path, monkeypatch):
    images, sentences = _pairs(tiny_world)
    first = ClipScorer.from_dir(checkpoint, cache_dir=tmp_path).score(images, sentences)
    again = ClipScorer.from_dir(checkpoint, cache_dir=tmp_path)
    monkeypatch.setattr(again, "_compute", lambda *a, **k: pytest.fail("recomputed a cached score"))
    assert torch.equal(again.score(images, sentences), first)
    assert torch.equal(again.score(images[::-1], sentences[::-1]), first.flip(0))


def test_only_new_pairs_are_computed(tiny_world, checkpoint, tmp_path):
    images, sentences = _pairs(tiny_world)
    scorer = ClipScorer.from_dir(checkpoint, cache_dir=tmp_path)
    scorer.score(images[:2], sentences[:2])
    calls = []
    original = scorer._compute
    scorer._compute = lambda *args: calls.append(args[-1]) or original(*args)
    scores = scorer.score(images, [sentences[0], sentences[1], "The red circle is above the blue square."])
    assert calls == [[2]]
    assert scores.shape == (3,)


def test_paths_and_images_hash_alike(tiny_world, tmp_path):
    image, _ = _pairs(tiny_world)
    path = tmp_path / "a.png"
    image[0].save(path)
    assert image_digest(path) == image_digest(image[0]) == image_digest(image[0].convert("RGBA"))
    assert image_digest(image[0]) != image_digest(image[1])


def test_bad_input_is_a_user_error(tiny_world, checkpoint, tmp_path):
    scorer = ClipScorer.from_dir(checkpoint, use_disk_cache=False)
    with pytest.raises(UserError, match="one sentence per image"):
        scorer.score([Image.new("RGB", (48, 48))], ["a", "b"])
    with pytest.raises(UserError, match="does not exist"):
        scorer.score([tmp_path / "missing.png"], ["a"])
    with pytest.raises(UserError, match="not an open_clip checkpoint directory"):
        ClipScorer.from_dir(tmp_path)


def test_the_paper_clip_offline_is_a_clear_user_error():
    with pytest.raises(UserError, match=r"cannot load CLIP ViT-L-14-336 \(openai weights\).*HF_HUB_OFFLINE"):
        ClipScorer.from_pretrained()
