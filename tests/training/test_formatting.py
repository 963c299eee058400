"""Pairs in TRL's standard format: chat template, BOS on the prompt, EOS on the completions."""

import pytest
from tiny_models import build_tokenizer

from aspo_repro.errors import UserError
from aspo_repro.training.formatting import PairFormatter

RESPONSE = "there is a red circle . it is small ."


def test_llava_pair_uses_the_chat_template(llava_dir):
    from transformers import AutoProcessor

    pair = PairFormatter.for_processor(AutoProcessor.from_pretrained(llava_dir), "llava").format(
        "describe the image .", RESPONSE, "there is a blue star ."
    )
    assert pair.prompt == "USER: <image>\ndescribe the image . ASSISTANT:"
    assert pair.chosen == f" {RESPONSE} </s>" and pair.rejected == " there is a blue star . </s>"
    start, end = pair.response_span
    assert pair.chosen[start:end] == RESPONSE


def test_instructblip_pair_without_template_is_plain_text(instructblip_dir):
    from transformers import AutoProcessor

    pair = PairFormatter.for_processor(
        AutoProcessor.from_pretrained(instructblip_dir), "instructblip"
    ).format("describe the image .", RESPONSE, "there is a blue star .")
    assert (pair.prompt, pair.chosen, pair.response_span) == (
        "describe the image .",
        RESPONSE + "</s>",
        (0, len(RESPONSE)),
    )


def test_bos_is_prepended_when_the_tokenizer_adds_one(llava_dir):
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(llava_dir)
    tokenizer = processor.tokenizer
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.bos_token_id)]
    )
    assert tokenizer("a").input_ids[0] == tokenizer.bos_token_id
    pair = PairFormatter.for_processor(processor, "llava").format(
        "describe the image .", RESPONSE, "no ."
    )
    assert pair.prompt.startswith("<s>USER: <image>\n")


def test_llava_without_chat_template_is_a_user_error():
    class Processor:
        chat_template = None
        tokenizer = build_tokenizer()

    with pytest.raises(UserError, match="no chat template"):
        PairFormatter.for_processor(Processor(), "llava")


def test_a_template_closing_the_turn_with_eos_and_a_separator_gets_one_eos():
    """The mini world's template (as Vicuna's) ends an assistant turn with ``"</s> "``: the separator
    is dropped and no second EOS is added (issue 16: answers ended with two)."""
    from aspo_repro.miniworld.tokenizer import build_tokenizer as world_tokenizer

    class Processor:
        tokenizer = world_tokenizer()
        chat_template = tokenizer.chat_template
        apply_chat_template = tokenizer.apply_chat_template

    pair = PairFormatter.for_processor(Processor(), "llava").format(
        "Describe the image in detail.", "There is one object in the image.", "There are two objects in the image."
    )
    assert pair.chosen == " There is one object in the image.</s>"
    assert pair.rejected == " There are two objects in the image.</s>"
    ids = Processor.tokenizer(pair.chosen, add_special_tokens=False).input_ids
    assert ids.count(Processor.tokenizer.eos_token_id) == 1 and ids[-1] == Processor.tokenizer.eos_token_id


def test_the_oracle_scores_each_sentence_by_the_judges_verdict(llava_dir, tmp_path):
    """aspo-oracle's similarity is the exact verdict: 1 for a correct sentence, 0 for a hallucinated or
    unjudgeable one; data without verdicts (the paper profile's) is refused by name."""
    from prefdata import make_rows, save_prefs
    from transformers import AutoProcessor

    from aspo_repro.training.formatting import format_preferences
    from aspo_repro.training.preferences import read_preferences

    rows = make_rows(4)
    rows[0]["chosen_sentence_verdict"] = [1, -1] + [0] * (len(rows[0]["chosen_sentence_spans"]) - 2)
    processor = AutoProcessor.from_pretrained(llava_dir)
    formatted = format_preferences(read_preferences(save_prefs(tmp_path / "with", rows)), processor, "llava", 512,
                                   "skip", judge_scores=True)
    for row, kept in zip(rows, formatted):
        expected = [1.0 if v == 1 else 0.0 for v in row["chosen_sentence_verdict"]]
        assert kept["sentence_similarity"] == expected
    without = read_preferences(save_prefs(tmp_path / "without", make_rows(4, with_verdicts=False)))
    with pytest.raises(UserError, match="holds no exact verdicts"):
        format_preferences(without, processor, "llava", 512, "skip", judge_scores=True)
