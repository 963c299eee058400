"""report.images: what the report stores of a picture."""

import io

import numpy as np
from PIL import Image

from aspo_repro.report.images import MAX_SIDE, encode


def decoded(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"), dtype=float)


def test_a_small_scene_is_kept_whole_its_colours_sharp_and_smaller_than_lossless():
    rng = np.random.default_rng(0)
    shapes = np.kron(rng.integers(0, 255, (6, 6, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48x48 flat patches
    content, extension = encode(Image.fromarray(shapes))
    assert extension == "jpg" and decoded(content).shape == shapes.shape
    assert np.abs(decoded(content) - shapes).mean() < 3  # of 255: no colour smeared into a neighbour
    noised = Image.fromarray(np.clip(shapes + rng.normal(0, 20, shapes.shape), 0, 255).astype(np.uint8))
    lossless = io.BytesIO()
    noised.save(lossless, format="PNG", optimize=True)
    assert len(encode(noised)[0]) < 0.6 * len(lossless.getvalue())


def test_a_photograph_is_shrunk_to_the_longest_side():
    content, extension = encode(Image.new("RGB", (640, 480), (200, 30, 30)))
    assert extension == "jpg" and max(Image.open(io.BytesIO(content)).size) == MAX_SIDE
