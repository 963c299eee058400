"""Images as the report stores them: small ones (the mini world's) as lossless PNG, photographs
(COCO, the paper's benchmarks) shrunk to ``MAX_SIDE`` pixels as JPEG, so 16K pairs stay a few
hundred megabytes on disk and a pair's page loads at once."""

from __future__ import annotations

import io

MAX_SIDE = 256
SMALL_SIDE = 128  # at most this: kept whole as PNG (the browser scales it up without smoothing)


def encode(picture) -> tuple[bytes, str]:
    """The picture's bytes and file extension."""
    picture = picture.convert("RGB")
    buffer = io.BytesIO()
    if max(picture.size) <= SMALL_SIDE:
        picture.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), "png"
    picture = picture.copy()
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    picture.save(buffer, format="JPEG", quality=80, optimize=True)
    return buffer.getvalue(), "jpg"
