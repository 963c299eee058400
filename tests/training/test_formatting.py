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
