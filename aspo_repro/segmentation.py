"""Sentence units of a response, and the completion token that belongs to each.

Rules (``docs/aspo-math.md``, "Units"):

- the response is split into sentences with pysbd (English); a sentence's span is its text
  without surrounding whitespace;
- every completion token belongs to exactly one unit: the unit holding the token's first
  non-space character; whitespace between sentences goes to the following sentence (leading
  whitespace to the first); a token of whitespace only belongs where its first character does;
- a token with no characters (end-of-sequence and other special tokens) goes to the unit of the
  token before it, and to the last sentence when nothing follows it;
- a truncated completion simply has fewer tokens: spans are clipped, and a sentence left without
  tokens is an empty unit (the loss masks it);
- an empty or whitespace-only response is a single unit.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from aspo_repro.errors import UserError

Span = tuple[int, int]


_PER_THREAD = threading.local()


def _segmenter():
    """One pysbd segmenter per thread: a shared one loses sentences under concurrent use."""
    segmenter = getattr(_PER_THREAD, "segmenter", None)
    if segmenter is None:
        import pysbd

        segmenter = _PER_THREAD.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped of surrounding whitespace."""
    return [text[start:end] for start, end in sentence_spans(text)]


def sentence_spans(text: str) -> list[Span]:
    """Character spans ``[start, end)`` of the sentences of ``text``, in order, disjoint.

    pysbd's own ``char_span`` mode mislocates repeated sentences, so each segment is searched
    for from the end of the previous one instead.
    """
    spans: list[Span] = []
    cursor = 0
    for segment in _segmenter().segment(text):
        content = segment.strip()
        if not content:
            continue
        start = text.find(content, cursor)
        if start < 0:  # pysbd altered the text; fall back to a whitespace-aligned search
            start = _first_non_space(text, cursor)
            if start is None:
                break
            end = min(len(text), start + len(content))
        else:
            end = start + len(content)
        spans.append((start, end))
        cursor = end
    return _absorb_dropped_text(text, spans)


def _absorb_dropped_text(text: str, spans: list[Span]) -> list[Span]:
    """Give text pysbd left out of every sentence (``"a。!!"`` comes back as ``["a。"]``) to the
    sentence before it, or to the first sentence when it leads, so no word is outside a span."""
    if not text.strip():
        return spans
    if not spans:
        return [(_first_non_space(text, 0), len(text.rstrip()))]
    absorbed = []
    for index, (start, end) in enumerate(spans):
        if index == 0 and text[:start].strip():
            start = _first_non_space(text, 0)
        following = spans[index + 1][0] if index + 1 < len(spans) else len(text)
        end += len(text[end:following].rstrip())
        absorbed.append((start, end))
    return absorbed


def _first_non_space(text: str, start: int, end: int | None = None) -> int | None:
    stop = len(text) if end is None else end
    for position in range(start, stop):
        if not text[position].isspace():
            return position
    return None


@dataclass(frozen=True)
class SentenceUnits:
    """The sentences of a response and the unit of each of its completion tokens."""

    sentences: list[str]
    spans: list[Span]
    token_units: list[int]

    @property
    def num_units(self) -> int:
        return max(1, len(self.spans))


def unit_boundaries(spans: Sequence[Span]) -> list[int]:
    """Character positions where units 1..K-1 begin: the end of the previous sentence's text."""
    return [end for _, end in spans[:-1]]


def char_unit(boundaries: Sequence[int], position: int) -> int:
    return bisect.bisect_right(boundaries, position)


def units_from_offsets(text: str, offsets: Sequence[Span], spans: Sequence[Span] | None = None) -> list[int]:
    """The sentence unit of each token, given the tokens' character offsets into ``text``."""
    spans = sentence_spans(text) if spans is None else spans
    last_unit = max(1, len(spans)) - 1
    boundaries = unit_boundaries(spans)
    units: list[int | None] = []
    for start, end in offsets:
        if end <= start:
            units.append(None)
            continue
        position = _first_non_space(text, start, end)
        units.append(char_unit(boundaries, start if position is None else position))
    return _fill_empty_tokens(units, last_unit)


def _fill_empty_tokens(units: list[int | None], last_unit: int) -> list[int]:
    """Give character-less tokens the unit before them, or the last unit at the end."""
    filled: list[int] = []
    previous = 0
    trailing_from = len(units)
    while trailing_from > 0 and units[trailing_from - 1] is None:
        trailing_from -= 1
    for index, unit in enumerate(units):
        if unit is None:
            unit = last_unit if index >= trailing_from else previous
        filled.append(unit)
        previous = unit
    return filled


def sentence_units(text: str, offsets: Sequence[Span]) -> SentenceUnits:
    spans = sentence_spans(text)
    return SentenceUnits(
        sentences=[text[s:e] for s, e in spans],
        spans=spans,
        token_units=units_from_offsets(text, offsets, spans),
    )


# The unit of each token, per granularity (``aspo_repro.methods.GRANULARITIES``), from the tokens'
# character offsets and, for sentences, the sentence spans (found here when not given).
UNIT_RULES = {
    "sentence": lambda text, offsets, spans: units_from_offsets(text, offsets, spans),
    "token": lambda text, offsets, spans: list(range(len(offsets))),
    "response": lambda text, offsets, spans: [0] * len(offsets),
}


def token_units(
    granularity: str, text: str, offsets: Sequence[Span], spans: Sequence[Span] | None = None
) -> list[int]:
    """The unit of each token of ``text`` at ``granularity``: its sentence, itself, or the whole."""
    try:
        rule = UNIT_RULES[granularity]
    except KeyError:
        raise UserError(
            f"unknown granularity {granularity!r}; known: {', '.join(UNIT_RULES)}"
        ) from None
    return rule(text, offsets, spans)


def tokenize_with_units(tokenizer, text: str, granularity: str = "sentence", max_tokens: int | None = None):
    """Token ids of ``text`` (no special tokens) and the unit of each, for a granularity.

    ``sentence``: units from :func:`units_from_offsets`; ``token``: each token its own unit;
    ``response``: a single unit. ``max_tokens`` truncates, clipping the spans.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"{type(tokenizer).__name__} is not a fast tokenizer: sentence units need character "
            "offsets (load it with use_fast=True)"
        )
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    if max_tokens is not None:
        ids, offsets = ids[:max_tokens], offsets[:max_tokens]
    units = token_units(granularity, text, offsets)
    return ids, units
