"""True sentences of a scene and false ones made from them: the mini CLIP's training text.

A scene's true sentences are those of its detailed description (``grammar.describe``): the count
sentence, one object sentence per object and relation sentences between its objects. From each a
*hard negative* is made by changing one thing, the kinds of error the judge names
(``judge.REASONS``): another count; another colour, another cell or an absent shape in an object
sentence; the opposite relation, another colour or an absent shape in a relation sentence. An absent
shape is the missing co-occurrence partner of a present one when there is one, which is what a
model that leans on the world's bias hallucinates. Trained against these (``clip_train``), the CLIP
must read what a sentence claims, not only which words it uses.
"""

from __future__ import annotations

import dataclasses
import random

from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.miniworld.scene import Scene, WorldObject

OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of",
            "above": "below", "below": "above"}


def true_sentences(scene: Scene, rng: random.Random) -> list[str]:
    """The count sentence, every object sentence and one relation sentence per pair of objects."""
    sentences = [grammar.count_sentence(len(scene.objects))]
    sentences += [grammar.object_sentence(obj) for obj in scene.objects]
    for i, first in enumerate(scene.objects):
        for second in scene.objects[i + 1:]:
            a, b = (first, second) if rng.random() < 0.5 else (second, first)
            sentences.append(grammar.relation_sentence(a, grammar.relation_between(a, b, rng), b))
    return sentences


def false_sentence(sentence: str, scene: Scene, rng: random.Random) -> str:
    """A sentence of the same form as ``sentence`` (true about ``scene``) with one thing made false."""
    claim = grammar.parse_sentence(sentence)
    if claim is None:
        raise ValueError(f"not a sentence of the world's grammar: {sentence!r}")
    if claim.kind == grammar.COUNT:
        return grammar.count_sentence(_other_count(len(scene.objects), rng))
    if claim.kind == grammar.OBJECT:
        return _false_object(scene.find(claim.shape), scene, rng)
    if claim.kind == grammar.RELATION:
        return _false_relation(scene.find(claim.shape), claim.relation, scene.find(claim.other_shape), scene, rng)
    raise ValueError(f"no false variant of a {claim.kind} sentence")


def _other_count(count: int, rng: random.Random) -> int:
    near = [n for n in (count - 1, count + 1) if 1 <= n <= lexicon.MAX_OBJECTS]
    return rng.choice(near)


def absent_shape(scene: Scene, rng: random.Random) -> str:
    """A shape the scene lacks: a present shape's missing partner when there is one."""
    partners = [lexicon.PARTNERS[s] for s in sorted(scene.shapes) if lexicon.PARTNERS[s] not in scene.shapes]
    if partners:
        return rng.choice(partners)
    return rng.choice([s for s in lexicon.SHAPES if s not in scene.shapes])


def _other_colour(colour: str, rng: random.Random) -> str:
    return rng.choice([c for c in lexicon.COLOURS if c != colour])


def _false_object(obj: WorldObject, scene: Scene, rng: random.Random) -> str:
    taken = {(o.row, o.column) for o in scene.objects}
    kinds = ["attribute", "object"] + (["position"] if len(taken) < len(lexicon.CELLS) else [])
    kind = rng.choice(kinds)
    if kind == "attribute":
        changed = dataclasses.replace(obj, colour=_other_colour(obj.colour, rng))
    elif kind == "position":
        row, column = rng.choice([cell for cell in lexicon.CELLS if cell not in taken])
        changed = dataclasses.replace(obj, row=row, column=column)
    else:
        changed = dataclasses.replace(obj, shape=absent_shape(scene, rng))
    return grammar.object_sentence(changed)


def _false_relation(first: WorldObject, relation: str, second: WorldObject, scene: Scene,
                    rng: random.Random) -> str:
    kind = rng.choice(["relation", "attribute", "object"])
    if kind == "relation":
        return grammar.relation_sentence(first, OPPOSITE[relation], second)
    if kind == "attribute":
        return grammar.relation_sentence(dataclasses.replace(first, colour=_other_colour(first.colour, rng)),
                                         relation, second)
    return grammar.relation_sentence(first, relation, dataclasses.replace(second, shape=absent_shape(scene, rng)))
