"""Scenes, the world's ground truth, and the seeded sampler with co-occurrence bias.

A scene holds 1 to 4 objects, each with a shape, a colour, a size and a cell of a 3x3 grid;
shapes are unique within a scene (so "the circle" always names one object, like a COCO
category that is present or not). Objects are kept in reading order (row, then column).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from aspo_repro.errors import UserError
from aspo_repro.miniworld import lexicon


@dataclass(frozen=True)
class WorldObject:
    shape: str
    colour: str
    size: str
    row: int
    column: int

    @property
    def cell(self) -> str:
        return lexicon.cell_name(self.row, self.column)

    @property
    def name(self) -> str:
        """``red circle``: how sentences refer to the object."""
        return f"{self.colour} {self.shape}"

    def to_dict(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "size": self.size,
                "row": self.row, "column": self.column}

    @classmethod
    def from_dict(cls, data: dict) -> WorldObject:
        try:
            obj = cls(str(data["shape"]), str(data["colour"]), str(data["size"]),
                      int(data["row"]), int(data["column"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"malformed object {data!r}: needs shape, colour, size, row, column") from error
        _check_allowed(obj.shape, lexicon.SHAPES, "shape")
        _check_allowed(obj.colour, lexicon.COLOURS, "colour")
        _check_allowed(obj.size, lexicon.SIZES, "size")
        if not (0 <= obj.row < lexicon.GRID and 0 <= obj.column < lexicon.GRID):
            raise UserError(f"object cell ({obj.row}, {obj.column}) is outside the {lexicon.GRID}x{lexicon.GRID} grid")
        return obj


def _check_allowed(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise UserError(f"unknown {what} {value!r}; known {what}s: {', '.join(allowed)}")


@dataclass(frozen=True)
class Scene:
    id: str
    objects: tuple[WorldObject, ...]

    def __post_init__(self) -> None:
        shapes = [obj.shape for obj in self.objects]
        cells = [(obj.row, obj.column) for obj in self.objects]
        if len(set(shapes)) != len(shapes) or len(set(cells)) != len(cells):
            raise UserError(f"scene {self.id!r}: shapes and cells must be unique within a scene")
        if not 1 <= len(self.objects) <= lexicon.MAX_OBJECTS:
            raise UserError(f"scene {self.id!r}: holds 1 to {lexicon.MAX_OBJECTS} objects, not {len(self.objects)}")

    @property
    def shapes(self) -> frozenset[str]:
        return frozenset(obj.shape for obj in self.objects)

    def find(self, shape: str) -> WorldObject | None:
        return next((obj for obj in self.objects if obj.shape == shape), None)

    def at(self, row: int, column: int) -> WorldObject | None:
        return next((obj for obj in self.objects if (obj.row, obj.column) == (row, column)), None)

    def to_dict(self) -> dict:
        return {"id": self.id, "objects": [obj.to_dict() for obj in self.objects]}

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        if not isinstance(data, dict) or "objects" not in data:
            raise UserError(f"malformed scene {data!r}: needs 'id' and 'objects'")
        objects = sorted((WorldObject.from_dict(o) for o in data["objects"]), key=lambda o: (o.row, o.column))
        return cls(str(data.get("id", "")), tuple(objects))


@dataclass(frozen=True)
class SceneBias:
    """How scenes are drawn. ``cooccurrence``: the chance that a further object is the partner
    of one already present (when that partner is absent); ``typical_colour``: the chance that
    an object takes its shape's usual colour."""

    cooccurrence: float = 0.75
    typical_colour: float = 0.5
    count_weights: tuple[float, ...] = (0.15, 0.35, 0.3, 0.2)


def sample_scene(rng: random.Random, scene_id: str, bias: SceneBias) -> Scene:
    count = rng.choices(range(1, lexicon.MAX_OBJECTS + 1), weights=bias.count_weights)[0]
    shapes: list[str] = []
    while len(shapes) < count:
        shapes.append(_next_shape(rng, shapes, bias))
    cells = rng.sample(lexicon.CELLS, count)
    objects = [
        WorldObject(shape, _colour(rng, shape, bias), rng.choice(lexicon.SIZES), row, column)
        for shape, (row, column) in zip(shapes, cells)
    ]
    return Scene(scene_id, tuple(sorted(objects, key=lambda o: (o.row, o.column))))


def _next_shape(rng: random.Random, present: list[str], bias: SceneBias) -> str:
    missing_partners = [lexicon.PARTNERS[s] for s in present if lexicon.PARTNERS[s] not in present]
    if missing_partners and rng.random() < bias.cooccurrence:
        return rng.choice(missing_partners)
    candidates = [s for s in lexicon.SHAPES if s not in present]
    weights = [lexicon.SHAPE_FREQUENCIES[lexicon.SHAPES.index(s)] for s in candidates]
    return rng.choices(candidates, weights=weights)[0]


def _colour(rng: random.Random, shape: str, bias: SceneBias) -> str:
    if rng.random() < bias.typical_colour:
        return lexicon.TYPICAL_COLOUR[shape]
    return rng.choice(lexicon.COLOURS)


def sample_scenes(seed: int, split: str, count: int, bias: SceneBias) -> list[Scene]:
    """``count`` scenes of one split; a split's scenes depend only on (seed, split)."""
    rng = random.Random(f"aspo-miniworld:{seed}:{split}")
    return [sample_scene(rng, f"{split}-{index:05d}", bias) for index in range(count)]
