"""Unit ids after TRL's padding, flush-left and truncation: decode each unit, compare with its sentence."""

import pytest
import torch
from prefdata import fake_scorer, fake_similarity

from aspo_repro.training.collator import UnitCollator, close_padding_gaps, has_gaps
from aspo_repro.training.formatting import format_preferences
from aspo_repro.training.preferences import read_preferences
from aspo_repro.training.similarity import CachedScorer


@pytest.fixture
def processor(model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(model_dir)


@pytest.fixture
def family(model_dir):
    return "llava" if "llava" in str(model_dir) else "instructblip"


@pytest.fixture
def formatted(prefs_dir, processor, family):
    return format_preferences(read_preferences(prefs_dir), processor, family, 512, "skip")


def collate(processor, rows, **options):
    collator = UnitCollator(
        processor=processor, max_length=options.pop("max_length", 512), **options
    )
    return collator([dict(row) for row in rows])


def sentences(row):
    start = row["response_span"][0]
    return [row["chosen"][start + s : start + e] for s, e in row["sentence_spans"]]


def test_each_sentence_unit_decodes_to_its_sentence(processor, formatted):
    rows = [formatted[i] for i in range(4)]
    batch = collate(processor, rows, granularity="sentence")
    tokenizer = processor.tokenizer
    prompt_tokens = (batch["attention_mask"] * (1 - batch["completion_mask"]))[:4].sum(-1)
    assert len(set(prompt_tokens.tolist())) > 1  # prompts of different lengths: padding was moved
    for row, example in enumerate(rows):
        units = batch["chosen_unit_ids"][row]
        expected = sentences(example)
        assert int(units.max()) + 1 == len(expected) >= 2
        assert torch.equal(units >= 0, batch["completion_mask"][row].bool())
        for unit, sentence in enumerate(expected):
            ids = batch["input_ids"][row][units == unit].tolist()
            if unit == len(expected) - 1:
                assert ids[-1] == tokenizer.eos_token_id  # EOS belongs to the last sentence
                ids = ids[:-1]
            assert tokenizer.decode(ids) == sentence


def test_truncation_keeps_units_aligned(processor, formatted):
    rows = [formatted[i] for i in range(2)]
    full = collate(processor, rows, granularity="sentence")
    prompt_length = int(full["completion_mask"][0].argmax())
    cut = collate(processor, rows, granularity="sentence", max_length=prompt_length + 5)
    kept = cut["chosen_unit_ids"][0]
    assert int((kept >= 0).sum()) == 5
    assert torch.equal(
        kept[kept >= 0], full["chosen_unit_ids"][0][full["chosen_unit_ids"][0] >= 0][:5]
    )


def test_sentence_similarity_comes_from_the_data(processor, formatted):
    rows = [formatted[i] for i in range(3)]
    batch = collate(processor, rows, granularity="sentence", needs_similarity=True)
    for row, example in enumerate(rows):
        values = example["sentence_similarity"]
        assert batch["unit_similarity"][row, : len(values)].tolist() == pytest.approx(values)


def test_sentence_similarity_is_scored_and_cached_when_asked(processor, formatted):
    rows = [formatted[i] for i in range(3)]
    scorer = CachedScorer(lambda images, texts: [0.25] * len(texts))
    options = dict(
        granularity="sentence", needs_similarity=True, scorer=scorer, use_data_similarity=False
    )
    batch = collate(processor, rows, **options)
    counts = [len(example["sentence_spans"]) for example in rows]
    for row, count in enumerate(counts):
        assert batch["unit_similarity"][row, :count].tolist() == [0.25] * count
    assert scorer.calls == 3 and len(scorer) == sum(
        len(set(sentences(example))) for example in rows
    )
    collate(processor, rows, **options)
    assert scorer.calls == 3  # every (image, sentence) pair was cached


def test_token_units_and_their_similarities(processor, formatted):
    rows = [formatted[i] for i in range(2)]
    batch = collate(
        processor,
        rows,
        granularity="token",
        needs_similarity=True,
        scorer=CachedScorer(fake_scorer),
    )
    for row in range(len(rows)):
        units = batch["chosen_unit_ids"][row]
        count = int(batch["completion_mask"][row].sum())
        assert units[units >= 0].tolist() == list(range(count))
        words = processor.tokenizer.convert_ids_to_tokens(
            batch["input_ids"][row][units >= 0].tolist()
        )
        expected = [fake_similarity(w) for w in words[:-1]]  # the last token is EOS
        assert batch["unit_similarity"][row, : count - 1].tolist() == pytest.approx(expected)


def test_response_unit_and_similarity(processor, formatted):
    rows = [formatted[i] for i in range(2)]
    batch = collate(
        processor,
        rows,
        granularity="response",
        needs_similarity=True,
        scorer=CachedScorer(fake_scorer),
    )
    assert batch["unit_similarity"].shape == (2,)
    for row, example in enumerate(rows):
        start, end = example["response_span"]
        assert batch["unit_similarity"][row].item() == pytest.approx(
            fake_similarity(example["chosen"][start:end])
        )
        units = batch["chosen_unit_ids"][row]
        assert set(units[units >= 0].tolist()) == {0}


def test_dpo_batches_are_trl_batches_without_padding_gaps(processor, formatted, family):
    from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

    rows = [formatted[i] for i in range(3)]
    ours = collate(processor, rows, granularity=None)
    trl_rows = [{k: row[k] for k in ("images", "prompt", "chosen", "rejected")} for row in rows]
    stock = DataCollatorForVisionPreference(processor=processor, max_length=512)(trl_rows)
    assert ours.keys() == stock.keys()
    assert has_gaps(stock["attention_mask"]) == (family == "instructblip")
    assert not has_gaps(ours["attention_mask"])
    for row in range(len(stock["input_ids"])):
        attended = stock["attention_mask"][row].bool()
        count = int(attended.sum())
        assert torch.equal(ours["input_ids"][row, :count], stock["input_ids"][row, attended])
        assert torch.equal(
            ours["completion_mask"][row, :count], stock["completion_mask"][row, attended]
        )
    if family == "llava":
        for key in stock:
            assert torch.equal(ours[key], stock[key]), key


def test_close_padding_gaps_by_hand():
    batch = {
        "attention_mask": torch.tensor([[1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 0]]),
        "input_ids": torch.tensor([[7, 7, 0, 0, 5, 6], [7, 7, 4, 5, 6, 0]]),
        "completion_mask": torch.tensor([[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 0]]),
    }
    close_padding_gaps(batch)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]]
    assert batch["input_ids"].tolist() == [[7, 7, 5, 6, 0, 0], [7, 7, 4, 5, 6, 0]]
    assert batch["completion_mask"].tolist() == [[0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0]]
