"""Images as the report stores them, as JPEG: small ones (the mini world's 48-pixel scenes) whole at
quality 90 without chroma subsampling (which smears a small shape's colour into its neighbours),
less than half their lossless PNG's size (2.6 KB against 5.8 KB, measured on 300 of the mini
report's pair images), no artefact visible at the size the page shows them; photographs
(COCO, the paper's benchmarks) shrunk to ``MAX_SIDE`` pixels at quality 80, so 16K pairs stay a few
hundred megabytes on disk and a pair's page loads at once."""

from __future__ import annotations

import io

MAX_SIDE = 256
SMALL_SIDE = 128  # at most this: kept whole (the browser scales it up without smoothing)
SMALL_QUALITY, PHOTO_QUALITY = 90, 80


def encode(picture) -> tuple[bytes, str]:
    """The picture's bytes and file extension."""
    picture = picture.convert("RGB")
    settings = {"quality": SMALL_QUALITY, "subsampling": 0}
    if max(picture.size) > SMALL_SIDE:
        picture = picture.copy()
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
        settings = {"quality": PHOTO_QUALITY}
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", optimize=True, **settings)
    return buffer.getvalue(), "jpg"
