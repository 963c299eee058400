"""The world's sentences: how a scene is described, and how a sentence is read back.

Five sentence forms, each ending with a full stop (so pysbd splits a description into them):

- count:    ``There are three objects in the image.`` / ``There is one object in the image.``
- object:   ``A red circle is in the top left.`` (a size word, ``A large red circle ...``, is
  read and judged too, but the world's own descriptions leave sizes out)
- relation: ``The red circle is to the left of the blue square.`` (also right of / above / below)
- yes:      ``Yes, there is a red circle in the image.``
- no:       ``No, there is no circle in the image.``

A detailed description is the count sentence, one object sentence per object in reading
order, and (with two or more objects) one relation sentence. :func:`parse_sentence` turns a
sentence back into a :class:`Claim`; anything outside these forms parses to None.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.scene import Scene, WorldObject

COUNT, OBJECT, RELATION, YES, NO = "count", "object", "relation", "yes", "no"


@dataclass(frozen=True)
class Claim:
    """What one sentence asserts. Unused fields are None."""

    kind: str
    count: int | None = None
    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    cell: str | None = None
    relation: str | None = None
    other_shape: str | None = None
    other_colour: str | None = None


# ----------------------------------------------------------------------------- writing

def count_sentence(count: int) -> str:
    if count == 1:
        return "There is one object in the image."
    return f"There are {lexicon.NUMBER_WORDS[count]} objects in the image."


def object_sentence(obj: WorldObject, with_size: bool = False) -> str:
    size = f"{obj.size} " if with_size else ""
    return f"A {size}{obj.colour} {obj.shape} is in the {obj.cell}."


def relation_between(first: WorldObject, second: WorldObject, rng: random.Random) -> str:
    """A true relation of ``first`` to ``second``: horizontal or vertical, whichever holds
    (chosen at random when both do)."""
    options = []
    if first.column != second.column:
        options.append("to the left of" if first.column < second.column else "to the right of")
    if first.row != second.row:
        options.append("above" if first.row < second.row else "below")
    return rng.choice(options)


def relation_sentence(first: WorldObject, relation: str, second: WorldObject) -> str:
    return f"The {first.name} is {relation} the {second.name}."


def yes_sentence(obj: WorldObject) -> str:
    return f"Yes, there is a {obj.name} in the image."


def no_sentence(shape: str) -> str:
    return f"No, there is no {shape} in the image."


def describe(scene: Scene, rng: random.Random) -> str:
    """The detailed description of a scene (the target of "Describe the image in detail.")."""
    sentences = [count_sentence(len(scene.objects))]
    sentences += [object_sentence(obj) for obj in scene.objects]
    if len(scene.objects) >= 2:
        first, second = rng.sample(scene.objects, 2)
        sentences.append(relation_sentence(first, relation_between(first, second, rng), second))
    return " ".join(sentences)


# ----------------------------------------------------------------------------- reading

def _alternatives(words) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_SHAPE = f"(?P<shape>{_alternatives(lexicon.SHAPES)})"
_COLOUR = f"(?P<colour>{_alternatives(lexicon.COLOURS)})"
_OTHER = f"(?P<other_colour>{_alternatives(lexicon.COLOURS)}) (?P<other_shape>{_alternatives(lexicon.SHAPES)})"
_PATTERNS = {
    COUNT: re.compile(
        rf"there (?:is|are) (?P<count>{_alternatives(lexicon.NUMBER_WORDS)}) objects? in the image"),
    OBJECT: re.compile(
        rf"an? (?:(?P<size>{_alternatives(lexicon.SIZES)}) )?{_COLOUR} {_SHAPE} is in the "
        rf"(?P<cell>{_alternatives(lexicon.CELL_NAMES)})"),
    RELATION: re.compile(
        rf"the {_COLOUR} {_SHAPE} is (?P<relation>{_alternatives(lexicon.RELATIONS)}) the {_OTHER}"),
    YES: re.compile(rf"yes, there is an? {_COLOUR} {_SHAPE} in the image"),
    NO: re.compile(rf"no, there (?:is|are) no {_SHAPE}s? in the image"),
}


def normalise(sentence: str) -> str:
    text = " ".join(sentence.lower().split())
    return text[:-1].rstrip() if text.endswith(".") else text


def parse_sentence(sentence: str) -> Claim | None:
    text = normalise(sentence)
    for kind, pattern in _PATTERNS.items():
        match = pattern.fullmatch(text)
        if match:
            fields = match.groupdict()
            if "count" in fields:
                fields["count"] = lexicon.NUMBER_WORDS.index(fields["count"])
            return Claim(kind=kind, **fields)
    return None
