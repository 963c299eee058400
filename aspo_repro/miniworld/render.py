"""Pillow renderer: a scene becomes a small RGB image, a pure function of the scene.

Each grid cell is ``image_size / 3`` pixels wide; an object is drawn centred in its cell with a
jitter of up to one pixel derived from the scene id (so identical object lists in two scenes
do not give identical pixels). Drawing is aliased, hence exactly reproducible.

``grain`` adds pixel noise (a Gaussian of that standard deviation, 0-255 scale, seeded by the
scene id) to the whole image, as a camera's sensor does. A photograph is never flat, and a model
that has only seen flat backgrounds reads any noise in an empty cell as an object: under the
SeVa pipeline's diffusion noise it then claims more objects instead of misreading the ones there.
"""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
from PIL import Image, ImageDraw

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.scene import Scene, WorldObject

SIZE_FRACTION = {"small": 0.5, "large": 0.85}


def render_scene(scene: Scene, image_size: int = 48, grain: float = 0.0) -> Image.Image:
    image = Image.new("RGB", (image_size, image_size), lexicon.BACKGROUND_RGB)
    draw = ImageDraw.Draw(image)
    cell = image_size / lexicon.GRID
    for obj in scene.objects:
        dx, dy = _jitter(scene.id, obj)
        centre = ((obj.column + 0.5) * cell + dx, (obj.row + 0.5) * cell + dy)
        extent = max(3.0, SIZE_FRACTION[obj.size] * cell)
        DRAWERS[obj.shape](draw, centre, extent / 2, lexicon.COLOUR_RGB[obj.colour])
    return add_grain(image, grain, scene.id) if grain > 0 else image


def add_grain(image: Image.Image, grain: float, scene_id: str) -> Image.Image:
    """``image`` with Gaussian pixel noise of standard deviation ``grain``, the same for the same scene id."""
    rng = np.random.default_rng(zlib.crc32(f"grain:{scene_id}".encode()))
    pixels = np.asarray(image, dtype=np.float64)
    noisy = pixels + rng.normal(0.0, grain, size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _jitter(scene_id: str, obj: WorldObject) -> tuple[int, int]:
    code = zlib.crc32(f"{scene_id}:{obj.row}:{obj.column}".encode())
    return code % 3 - 1, (code // 3) % 3 - 1


def _box(centre, half_width, half_height):
    x, y = centre
    return [x - half_width, y - half_height, x + half_width, y + half_height]


def _circle(draw, centre, radius, colour):
    draw.ellipse(_box(centre, radius, radius), fill=colour)


def _ring(draw, centre, radius, colour):
    draw.ellipse(_box(centre, radius, radius), outline=colour, width=max(1, round(radius / 3)))


def _square(draw, centre, radius, colour):
    draw.rectangle(_box(centre, radius * 0.85, radius * 0.85), fill=colour)


def _bar(draw, centre, radius, colour):
    draw.rectangle(_box(centre, radius, radius * 0.35), fill=colour)


def _triangle(draw, centre, radius, colour):
    x, y = centre
    draw.polygon([(x, y - radius), (x + radius, y + radius), (x - radius, y + radius)], fill=colour)


def _diamond(draw, centre, radius, colour):
    x, y = centre
    draw.polygon([(x, y - radius), (x + radius, y), (x, y + radius), (x - radius, y)], fill=colour)


def _cross(draw, centre, radius, colour):
    arm = radius * 0.35
    draw.rectangle(_box(centre, radius, arm), fill=colour)
    draw.rectangle(_box(centre, arm, radius), fill=colour)


def _star(draw, centre, radius, colour):
    x, y = centre
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((x + r * math.cos(angle), y + r * math.sin(angle)))
    draw.polygon(points, fill=colour)


DRAWERS = {
    "circle": _circle, "ring": _ring, "square": _square, "bar": _bar,
    "triangle": _triangle, "diamond": _diamond, "cross": _cross, "star": _star,
}
