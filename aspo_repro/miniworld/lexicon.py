"""The closed vocabulary of the mini world: shapes, colours, sizes, grid cells, prompts.

Everything the world can say is built from these lists, which is what makes the rule judge
exact and the word-level tokenizer closed.
"""

from __future__ import annotations

# Object categories (the analogue of COCO's), in decreasing base frequency.
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "star", "bar")
SHAPE_FREQUENCIES = (0.2, 0.17, 0.14, 0.12, 0.11, 0.1, 0.09, 0.07)

# Pairs that usually appear together: the co-occurrence bias an under-trained model learns,
# and the mechanism behind POPE's "adversarial" split.
PARTNERS = {
    "circle": "square", "square": "circle",
    "triangle": "star", "star": "triangle",
    "diamond": "cross", "cross": "diamond",
    "ring": "bar", "bar": "ring",
}

COLOURS = ("red", "green", "blue", "yellow", "purple", "white")
COLOUR_RGB = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "purple": (160, 60, 210),
    "white": (240, 240, 240),
}
BACKGROUND_RGB = (40, 40, 40)
# Each shape's usual colour (an attribute bias on top of the object bias).
TYPICAL_COLOUR = {
    "circle": "red", "square": "blue", "triangle": "green", "diamond": "yellow",
    "cross": "white", "ring": "purple", "star": "yellow", "bar": "green",
}

SIZES = ("small", "large")

GRID = 3
ROW_NAMES = ("top", "center", "bottom")
COLUMN_NAMES = ("left", "center", "right")


def cell_name(row: int, column: int) -> str:
    """``top left`` ... ``center`` ... ``bottom right``."""
    if row == 1 and column == 1:
        return "center"
    return f"{ROW_NAMES[row]} {COLUMN_NAMES[column]}"


CELLS = tuple((row, column) for row in range(GRID) for column in range(GRID))
CELL_NAMES = tuple(cell_name(row, column) for row, column in CELLS)

NUMBER_WORDS = ("zero", "one", "two", "three", "four")
MAX_OBJECTS = 4

RELATIONS = ("to the left of", "to the right of", "above", "below")

# Prompts: LLaVA-1.5's own wording for the short-answer suffix. Its multiple-choice suffix asks for
# "the option's letter", which the mini models cannot learn (pointing from an answer to the letter
# before it in the prompt; trained with letters, every model picked one fixed letter): here they
# answer with the option itself, which mini-MMB matches to its letter (``judge.parse_option``).
DESCRIBE_PROMPT = "Describe the image in detail."
DESCRIBE_PROMPTS = (
    DESCRIBE_PROMPT,
    "What do you see in the image? Describe it in detail.",
    "Give a detailed description of the image.",
)
SHORT_ANSWER_SUFFIX = "Answer the question using a single word or phrase."
MULTIPLE_CHOICE_SUFFIX = "Answer with the option from the given choices directly."
OPTION_LETTERS = ("A", "B", "C", "D")

# Words of the chat template (see tokenizer.py).
CHAT_WORDS = ("USER", "ASSISTANT", ":")
