"""Sentence units: fixed cases for each rule, and properties for arbitrary text."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from aspo_repro.errors import UserError
from aspo_repro.segmentation import (
    sentence_spans,
    sentence_units,
    split_sentences,
    tokenize_with_units,
    units_from_offsets,
)

CORPUS = [
    "The image shows a red circle. There is a blue square in the top left corner.",
    "Dr. Smith paid $3.50 for 2.5 kg of apples. He left at 5 p.m. and went home!",
    "1. First item\n2. Second item\n\nThen we are done? Yes.",
    "Ünïcode façade. 日本語のテキスト。 Émigré café — naïve coöperation.",
]


def byte_level_tokenizer():
    """A GPT-2-style byte-level BPE: tokens carry their leading space, any text is encodable."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>")


def wordpiece_tokenizer():
    """A BERT-style tokenizer: spaces are dropped, punctuation split off."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[UNK]"])
    tok.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


BYTE_LEVEL = byte_level_tokenizer()
WORDPIECE = wordpiece_tokenizer()


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("", []),
        ("   \n ", []),
        ("No punctuation here", ["No punctuation here"]),
        ("Hello world. Hello world. Bye.", ["Hello world.", "Hello world.", "Bye."]),
        ("Dr. Smith paid $3.50 for it. Then he left.", ["Dr. Smith paid $3.50 for it.", "Then he left."]),
        ("1. First item\n2. Second item\n\nThen done.", ["1. First item", "2. Second item", "Then done."]),
        ("Line one\nLine two\n", ["Line one", "Line two"]),
        ("Ünïcode façade. 日本語のテキスト。 Another one!", ["Ünïcode façade.", "日本語のテキスト。", "Another one!"]),
    ],
)
def test_sentences(text, sentences):
    assert split_sentences(text) == sentences
    for (start, end), sentence in zip(sentence_spans(text), sentences):
        assert text[start:end] == sentence


def test_repeated_sentences_get_their_own_spans():
    assert sentence_spans("Hello world. Hello world. Bye.") == [(0, 12), (13, 25), (26, 30)]


def test_whitespace_between_sentences_goes_to_the_following_sentence():
    text = "A cat.  A dog."
    #        0123456789
    offsets = [(0, 1), (1, 5), (5, 6), (6, 8), (8, 9), (9, 13), (13, 14)]  # "  " is its own token
    assert units_from_offsets(text, offsets) == [0, 0, 0, 1, 1, 1, 1]


def test_token_with_leading_space_belongs_to_its_first_character():
    text = "A cat. A dog."
    offsets = [(0, 1), (1, 5), (5, 6), (6, 8), (8, 12), (12, 13)]  # " A" starts in the gap
    assert units_from_offsets(text, offsets) == [0, 0, 0, 1, 1, 1]


def test_end_of_sequence_goes_to_the_last_sentence_and_inner_specials_to_the_previous_unit():
    text = "One. Two."
    offsets = [(0, 3), (3, 4), (0, 0), (4, 8), (8, 9), (0, 0), (0, 0)]
    assert units_from_offsets(text, offsets) == [0, 0, 0, 1, 1, 1, 1]


def test_truncation_clips_spans():
    text = "First sentence here. Second sentence follows. Third."
    ids, units = tokenize_with_units(BYTE_LEVEL, text, max_tokens=6)
    full_ids, full_units = tokenize_with_units(BYTE_LEVEL, text)
    assert ids == full_ids[:6] and units == full_units[:6]
    assert max(full_units) == 2


def test_empty_and_single_sentence_responses_are_one_unit():
    assert units_from_offsets("", [(0, 0)]) == [0]
    assert units_from_offsets("   ", [(0, 3), (0, 0)]) == [0, 0]
    _, units = tokenize_with_units(BYTE_LEVEL, "Just one sentence without an end")
    assert set(units) == {0}


@pytest.mark.parametrize("tokenizer", [BYTE_LEVEL, WORDPIECE], ids=["byte-level", "wordpiece"])
def test_each_unit_decodes_to_its_sentence(tokenizer):
    text = "The image shows a red circle. Dr. Smith paid $3.50 for it!\n1. First item\n2. Second item"
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    result = sentence_units(text, encoded["offset_mapping"])
    assert len(result.sentences) == 4
    for unit, sentence in enumerate(result.sentences):
        offsets = [o for o, u in zip(encoded["offset_mapping"], result.token_units) if u == unit]
        covered = text[offsets[0][0] : offsets[-1][1]].strip()
        assert covered == sentence


def test_granularities():
    text = "One here. Two there."
    ids, units = tokenize_with_units(BYTE_LEVEL, text, granularity="token")
    assert units == list(range(len(ids)))
    _, units = tokenize_with_units(BYTE_LEVEL, text, granularity="response")
    assert set(units) == {0}
    with pytest.raises(UserError, match="granularity"):
        tokenize_with_units(BYTE_LEVEL, text, granularity="paragraph")


def test_slow_tokenizer_is_refused_with_a_clear_message():
    class SlowTokenizer:
        is_fast = False

    with pytest.raises(UserError, match="fast tokenizer"):
        tokenize_with_units(SlowTokenizer(), "Hi.")


PIECES = list("abcdeXYZ .!?,\n\t0123456789$-:éü日本。") + ["Dr. ", "e.g. ", "3.14", "\n1. ", " \n\n", "Mr. X. "]
TEXT = st.lists(st.sampled_from(PIECES), max_size=60).map("".join) | st.text(max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
@example(text="a。!!")  # pysbd drops the "!!"
@example(text=" !!")  # pysbd finds no sentence at all
def test_spans_partition_completion_tokens(text):
    spans = sentence_spans(text)
    # spans: ordered, disjoint, in bounds, exactly the stripped sentence text
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))
    assert all(text[s:e] == text[s:e].strip() and text[s:e] for s, e in spans)
    # everything outside the spans is whitespace
    inside = set().union(*(range(s, e) for s, e in spans)) if spans else set()
    assert all(text[i].isspace() for i in range(len(text)) if i not in inside)

    for tokenizer in (BYTE_LEVEL, WORDPIECE):
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [tuple(o) for o in encoded["offset_mapping"]] + [(0, 0)]  # plus an end-of-sequence token
        units = units_from_offsets(text, offsets, spans)
        num_units = max(1, len(spans))
        assert len(units) == len(offsets)  # every token gets exactly one unit
        assert all(0 <= u < num_units for u in units)
        assert units == sorted(units)  # units are contiguous runs of tokens
        assert units[-1] == num_units - 1  # the end-of-sequence token closes the last sentence
        for (start, end), unit in zip(offsets, units):
            if end > start and not text[start:end].isspace():
                first = next(i for i in range(start, end) if not text[i].isspace())
                # the token's first visible character lies in its unit's stretch of text
                low = spans[unit - 1][1] if unit > 0 else 0
                high = spans[unit][1] if spans else len(text)
                assert low <= first < high


def test_concurrent_segmentation_matches_serial():
    """pysbd segmenters keep state: threads must not share one (lmms-eval scores in threads)."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"There is a red circle number {i}. It is small. Dr. Who left at 5 p.m. today! Bye {i}." for i in range(200)]
    serial = [split_sentences(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(split_sentences, texts))
    assert threaded == serial
    assert all(len(sentences) == 4 for sentences in serial)
