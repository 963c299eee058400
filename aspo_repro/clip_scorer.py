"""Sentence-image similarity with CLIP (ASPO's S_i, Eq. 6-7): one scorer for both profiles.

``ClipScorer.score(images, sentences)`` returns the cosine similarity of each (image, sentence)
pair, computed in batches with open_clip and cached on disk by content: the key is a hash of
the model id, the image's pixels and the sentence, so a re-run (or the same sentence of another
method's run) costs nothing. Two constructors:

- :meth:`ClipScorer.from_pretrained`: the paper's CLIP, open_clip ``ViT-L-14-336`` with the
  ``openai`` weights. The weights come from the Hugging Face hub; offline and not cached, this
  fails with a :class:`~aspo_repro.errors.UserError` saying so.
- :meth:`ClipScorer.from_dir`: an open_clip ``local-dir`` checkpoint, such as the mini world's
  scorers (``aspo_choices.WORLD_SCORERS``: its caption scorer, its judge-trained scorer).

Text longer than the model's context is truncated by its tokenizer (77 tokens for the paper's CLIP).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from aspo_repro.errors import UserError

PAPER_MODEL = "ViT-L-14-336"
PAPER_PRETRAINED = "openai"
CACHE_FILE = "clip_scores.sqlite"


def default_score_cache_dir() -> Path:
    from aspo_repro.miniworld.cache import default_cache_dir

    return default_cache_dir() / "clip_scores"


def image_digest(image) -> str:
    """Content hash of an image's RGB pixels and size (a path is opened first)."""
    rgb = _as_rgb(image)
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def _as_rgb(image):
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise UserError(f"image {path} does not exist")
        with Image.open(path) as opened:
            return opened.convert("RGB")
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    raise UserError(f"an image must be a PIL image or a path, not {type(image).__name__}")


class ScoreCache:
    """Similarities on disk (SQLite: each batch is one committed transaction), or in memory."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value REAL NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({marks})", chunk))
        return found

    def put_many(self, values: dict[str, float]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", list(values.items()))


def score_key(model_id: str, image_hash: str, sentence: str) -> str:
    return hashlib.sha256(f"{model_id}\0{image_hash}\0{sentence}".encode()).hexdigest()


class ClipScorer:
    """Cosine similarities of (image, sentence) pairs from an open_clip model, cached by content."""

    def __init__(self, model, preprocess, tokenizer, model_id: str, *, cache_dir: str | os.PathLike | None = None,
                 use_disk_cache: bool = True, batch_size: int = 64, device: str = "cpu"):
        self.model = model.eval().to(device)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.batch_size = batch_size
        self.device = device
        cache_path = Path(cache_dir or default_score_cache_dir()) / CACHE_FILE if use_disk_cache else None
        self.cache = ScoreCache(cache_path)

    @classmethod
    def from_dir(cls, path: str | os.PathLike, **kwargs) -> ClipScorer:
        """An open_clip ``local-dir`` checkpoint (``open_clip_config.json`` + weights + tokenizer)."""
        import open_clip

        from aspo_repro.storage import sha256_tree

        path = Path(path)
        if not (path / "open_clip_config.json").is_file():
            raise UserError(f"{path} is not an open_clip checkpoint directory (no open_clip_config.json)")
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}")
        tokenizer = open_clip.get_tokenizer(f"local-dir:{path}")
        return cls(model, preprocess, tokenizer, f"local-dir:{sha256_tree(path)}", **kwargs)

    @classmethod
    def from_pretrained(cls, model_name: str = PAPER_MODEL, pretrained: str = PAPER_PRETRAINED, **kwargs) -> ClipScorer:
        """A named open_clip model with pretrained weights (the paper's: ViT-L-14-336, openai)."""
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        except Exception as error:  # open_clip reports a failed download as RuntimeError/OSError/...
            raise UserError(
                f"cannot load CLIP {model_name} ({pretrained} weights): {_first_line(error)}. The weights "
                "come from the Hugging Face hub; without network access (HF_HUB_OFFLINE=1) they must "
                "already be in the local hub cache. The mini profile's CLIP needs no download."
            ) from error
        tokenizer = open_clip.get_tokenizer(model_name)
        return cls(model, preprocess, tokenizer, f"{model_name}/{pretrained}", **kwargs)

    def score(self, images: Sequence, sentences: Sequence[str]):
        """A float tensor: the cosine similarity of ``images[i]`` and ``sentences[i]``, per i."""
        import torch

        if len(images) != len(sentences):
            raise UserError(f"score needs one sentence per image; got {len(images)} images and {len(sentences)} sentences")
        image_hashes = [image_digest(image) for image in images]
        keys = [score_key(self.model_id, h, s) for h, s in zip(image_hashes, sentences)]
        known = self.cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            known.update(self._compute(images, image_hashes, sentences, keys, missing))
        return torch.tensor([known[key] for key in keys], dtype=torch.float32)

    def _compute(self, images, image_hashes, sentences, keys, rows: list[int]) -> dict[str, float]:
        image_rows = {image_hashes[i]: i for i in rows}
        text_list = list(dict.fromkeys(sentences[i] for i in rows))
        image_features = self._image_features([images[i] for i in image_rows.values()])
        image_index = {h: k for k, h in enumerate(image_rows)}
        text_features = self._text_features(text_list)
        text_index = {t: k for k, t in enumerate(text_list)}
        values = {}
        for i in rows:
            a = image_features[image_index[image_hashes[i]]]
            b = text_features[text_index[sentences[i]]]
            values[keys[i]] = float((a * b).sum())
        self.cache.put_many(values)
        return values

    def _image_features(self, images: list):
        import torch

        chunks = []
        for start in range(0, len(images), self.batch_size):
            pixels = torch.stack([self.preprocess(_as_rgb(im)) for im in images[start:start + self.batch_size]])
            with torch.inference_mode():
                chunks.append(self.model.encode_image(pixels.to(self.device), normalize=True).float().cpu())
        return torch.cat(chunks)

    def _text_features(self, texts: list[str]):
        import torch

        chunks = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(texts[start:start + self.batch_size])
            with torch.inference_mode():
                chunks.append(self.model.encode_text(tokens.to(self.device), normalize=True).float().cpu())
        return torch.cat(chunks)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__
