"""The renderer: a pure, exact function of the scene."""

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.render import DRAWERS, png_bytes, render_scene
from aspo_repro.miniworld.scene import Scene, SceneBias, WorldObject, sample_scenes


def test_every_shape_has_a_drawer():
    assert set(DRAWERS) == set(lexicon.SHAPES)


def test_objects_are_drawn_in_their_cells_in_their_colours():
    scene = Scene("r", (WorldObject("square", "red", "large", 0, 0), WorldObject("circle", "blue", "large", 2, 1)))
    image = render_scene(scene, 48)
    assert image.size == (48, 48) and image.mode == "RGB"
    assert image.getpixel((8, 8)) == lexicon.COLOUR_RGB["red"]
    assert image.getpixel((24, 40)) == lexicon.COLOUR_RGB["blue"]
    assert image.getpixel((40, 8)) == lexicon.BACKGROUND_RGB  # the empty top-right cell
    assert image.getpixel((40, 24)) == lexicon.BACKGROUND_RGB


def test_rendering_is_byte_identical_across_calls():
    for scene in sample_scenes(0, "sft", 20, SceneBias()):
        assert png_bytes(render_scene(scene)) == png_bytes(render_scene(scene))


def test_every_shape_differs_from_every_other():
    images = {shape: render_scene(Scene("s", (WorldObject(shape, "white", "large", 1, 1),))).tobytes()
              for shape in lexicon.SHAPES}
    assert len(set(images.values())) == len(lexicon.SHAPES)


def test_grain_is_noise_of_the_asked_spread_fixed_by_the_scene():
    import numpy as np

    scene = Scene("g", (WorldObject("square", "red", "large", 0, 0),))
    clean = np.asarray(render_scene(scene, 48), dtype=float)
    grainy = np.asarray(render_scene(scene, 48, grain=16.0), dtype=float)
    background = np.s_[16:, 16:]  # the empty cells, far from clipping at 0 or 255
    assert abs((grainy - clean)[background].std() - 16.0) < 1.0
    assert abs((grainy - clean)[background].mean()) < 1.0
    assert png_bytes(render_scene(scene, 48, grain=16.0)) == png_bytes(render_scene(scene, 48, grain=16.0))
    other = Scene("h", scene.objects)
    assert png_bytes(render_scene(other, 48, grain=16.0)) != png_bytes(render_scene(scene, 48, grain=16.0))
