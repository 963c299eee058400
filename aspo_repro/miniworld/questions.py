"""Questions about a scene and their ground-truth answers (the instruction data's building blocks).

Short questions are asked with LLaVA-1.5's suffix ("Answer the question using a single word
or phrase.") and answered with a word or phrase; multiple-choice questions list four options
and are answered with a letter; a detailed-description prompt is answered with
:func:`grammar.describe`; a long existence question is answered with a yes/no sentence.
The benchmarks store questions *without* suffixes; :func:`short_prompt` and
:func:`multiple_choice_prompt` add them, and the evaluator must call the same functions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aspo_repro.miniworld import grammar, lexicon
from aspo_repro.miniworld.scene import Scene

EXISTS_QUESTION = "Is there a {shape} in the image?"
COLOUR_QUESTION = "What colour is the {shape}?"
COUNT_QUESTION = "How many objects are there?"
COLOUR_COUNT_QUESTION = "How many {colour} objects are there?"
POSITION_QUESTION = "Where is the {colour} {shape}?"
SHAPE_QUESTION = "What shape is in the {cell}?"

DESCRIBE, EXISTS, EXISTS_LONG, COLOUR, COUNT, POSITION, SHAPE, CHOICE = (
    "describe", "exists", "exists_long", "colour", "count", "position", "shape", "choice")


@dataclass(frozen=True)
class QA:
    kind: str
    prompt: str  # exactly what follows "<image>\n" in the human turn
    answer: str


def short_prompt(question: str) -> str:
    return f"{question}\n{lexicon.SHORT_ANSWER_SUFFIX}"


def multiple_choice_prompt(question: str, options: list[str]) -> str:
    lines = [question] + [f"{letter}. {option}" for letter, option in zip(lexicon.OPTION_LETTERS, options)]
    return "\n".join(lines + [lexicon.MULTIPLE_CHOICE_SUFFIX])


def describe_qa(scene: Scene, rng: random.Random, prompt: str | None = None) -> QA:
    prompt = prompt or rng.choices(lexicon.DESCRIBE_PROMPTS, weights=(4, 1, 1))[0]
    return QA(DESCRIBE, prompt, grammar.describe(scene, rng))


def natural_negative(scene: Scene, rng: random.Random) -> str:
    """An absent shape drawn by the world's base frequencies (the SFT data's negatives)."""
    absent = [s for s in lexicon.SHAPES if s not in scene.shapes]
    weights = [lexicon.SHAPE_FREQUENCIES[lexicon.SHAPES.index(s)] for s in absent]
    return rng.choices(absent, weights=weights)[0]


def exists_qa(scene: Scene, rng: random.Random, long: bool = False) -> QA:
    if rng.random() < 0.5:
        obj = rng.choice(scene.objects)
        shape, answer = obj.shape, grammar.yes_sentence(obj) if long else "Yes"
    else:
        shape = natural_negative(scene, rng)
        answer = grammar.no_sentence(shape) if long else "No"
    question = EXISTS_QUESTION.format(shape=shape)
    return QA(EXISTS_LONG if long else EXISTS, question if long else short_prompt(question), answer)


def colour_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    return COLOUR_QUESTION.format(shape=obj.shape), obj.colour


def count_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        return COUNT_QUESTION, str(len(scene.objects))
    colour = rng.choice(lexicon.COLOURS)
    count = sum(obj.colour == colour for obj in scene.objects)
    return COLOUR_COUNT_QUESTION.format(colour=colour), str(count)


def position_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    return POSITION_QUESTION.format(colour=obj.colour, shape=obj.shape), obj.cell


def shape_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    return SHAPE_QUESTION.format(cell=obj.cell), obj.shape


SHORT_QUESTIONS = {COLOUR: colour_question, COUNT: count_question, POSITION: position_question, SHAPE: shape_question}
# The pool each multiple-choice question's wrong options come from.
OPTION_POOLS = {
    COLOUR: lexicon.COLOURS,
    COUNT: tuple(str(n) for n in range(1, lexicon.MAX_OBJECTS + 1)),
    POSITION: lexicon.CELL_NAMES,
    SHAPE: lexicon.SHAPES,
}


def short_qa(scene: Scene, rng: random.Random, kind: str | None = None) -> QA:
    kind = kind or rng.choice(sorted(SHORT_QUESTIONS))
    question, answer = SHORT_QUESTIONS[kind](scene, rng)
    return QA(kind, short_prompt(question), answer)


def choice_question(scene: Scene, rng: random.Random, kind: str | None = None) -> tuple[str, list[str], int]:
    """A multiple-choice question: (question, four options, index of the right one)."""
    kind = kind or rng.choice(sorted(OPTION_POOLS))
    if kind == COUNT:
        question, answer = COUNT_QUESTION, str(len(scene.objects))
    else:
        question, answer = SHORT_QUESTIONS[kind](scene, rng)
    wrong = rng.sample([o for o in OPTION_POOLS[kind] if o != answer], len(lexicon.OPTION_LETTERS) - 1)
    options = wrong + [answer]
    rng.shuffle(options)
    return question, options, options.index(answer)


def choice_qa(scene: Scene, rng: random.Random) -> QA:
    question, options, index = choice_question(scene, rng)
    return QA(CHOICE, multiple_choice_prompt(question, options), options[index])


def vocabulary_texts() -> list[str]:
    """Texts holding every word the world can use (the tokenizer's closed vocabulary)."""
    texts = list(lexicon.DESCRIBE_PROMPTS) + [lexicon.SHORT_ANSWER_SUFFIX, lexicon.MULTIPLE_CHOICE_SUFFIX]
    texts += [" ".join(lexicon.CHAT_WORDS), " ".join(lexicon.OPTION_LETTERS), "Yes No . , ? :"]
    texts += [grammar.count_sentence(n) for n in range(1, lexicon.MAX_OBJECTS + 1)]
    texts += ["There are zero objects", "There is an object", " ".join(lexicon.NUMBER_WORDS)]
    texts += [" ".join(words) for words in (lexicon.SHAPES, lexicon.COLOURS, lexicon.SIZES, lexicon.CELL_NAMES)]
    texts += list(lexicon.RELATIONS)
    texts += [str(n) for n in range(lexicon.MAX_OBJECTS + 1)]
    texts += ["A large red circle is in the top left.", "A small red circle", "The red circle is above the blue square."]
    texts += ["Yes, there is a red circle in the image.", "No, there is no circle in the image."]
    templates = (EXISTS_QUESTION, COLOUR_QUESTION, COUNT_QUESTION, COLOUR_COUNT_QUESTION, POSITION_QUESTION,
                 SHAPE_QUESTION)
    texts += [t.format(shape="circle", colour="red", cell="center") for t in templates]
    return texts
