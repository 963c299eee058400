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
    # the template renders the answer as ``text + ' '``; the completion ends ``answer</s>`` all the same
    assert pair.chosen == f" {RESPONSE}</s>" and pair.rejected == " there is a blue star .</s>"
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


def test_whitespace_between_the_answer_and_a_templates_eos_is_dropped():
    from aspo_repro.miniworld.tokenizer import build_tokenizer as world_tokenizer

    class Processor:
        tokenizer = world_tokenizer()
        chat_template = tokenizer.chat_template
        apply_chat_template = tokenizer.apply_chat_template

    response = "There is one object in the image."
    pair = PairFormatter.for_processor(Processor(), "llava").format(
        "Describe the image in detail.", response + "  ", "There are two objects in the image.\n"
    )
    assert pair.chosen == f" {response}</s>" and pair.rejected == " There are two objects in the image.</s>"
    start, end = pair.response_span
    assert pair.chosen[start:end] == response


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


CORPUS = [
    "Describe the image in detail. A red bus is parked beside the road. Two people wait at the stop.",
    "What is in the picture? A small dog sleeps on a green sofa. The room is bright and quiet.",
] * 20


def rehearsal_processor(model: str):
    """The paper-rehearsal stand-in's processor of ``model`` (its BPE tokenizer with LLaMA's
    sentencepiece-style word boundaries), built without the network."""
    from aspo_repro.models.families import family_of_model_type
    from aspo_repro.rehearsal.checkpoints import (
        Shrink,
        llama_like_tokenizer,
        paper_config,
        qformer_tokenizer,
        shrunk_config,
    )

    shrink = Shrink(vocab_size=300)
    family = family_of_model_type(paper_config(model)["model_type"])
    tokenizer = llama_like_tokenizer(CORPUS, shrink.vocab_size, image_token_attribute=family.image_in_prompt)
    qformer = qformer_tokenizer(CORPUS, shrink.vocab_size) if family.has_qformer else None
    return family.standin_processor(tokenizer, qformer, shrunk_config(model, shrink, tokenizer, qformer))


@pytest.mark.parametrize(("model", "family"), [("llava-1.5-7b", "llava"), ("instructblip-13b", "instructblip")])
def test_the_completion_ends_with_the_answers_last_token_then_eos(model, family):
    """LLaVA-1.5 (``llava_v1``: ``" " + answer + "</s>"``) and InstructBLIP (the tokenizer's EOS after
    the answer) were trained on ``answer</s>``: no space token between the answer and EOS, whatever
    whitespace the template or the data leave after the answer."""
    processor = rehearsal_processor(model)
    tokenizer = processor.tokenizer
    response = "A red bus is parked beside the road. Two people wait at the stop."
    pair = PairFormatter.for_processor(processor, family).format(
        "Describe the image in detail.", response + " \n", "A small dog sleeps on a green sofa. "
    )
    assert pair.chosen.endswith(f"{response}</s>") and pair.rejected.endswith("sofa.</s>")
    start, end = pair.response_span
    assert pair.chosen[start:end] == response and pair.chosen[end:] == "</s>"
    for completion, answer in ((pair.chosen, response), (pair.rejected, "A small dog sleeps on a green sofa.")):
        ids = tokenizer(completion, add_special_tokens=False).input_ids
        answer_ids = tokenizer(answer, add_special_tokens=False).input_ids
        assert ids.count(tokenizer.eos_token_id) == 1 and ids[-1] == tokenizer.eos_token_id
        assert ids[-2] == answer_ids[-1] and tokenizer.decode(ids[-2:-1]).strip() != ""


def test_a_noisy_oracle_flips_the_same_share_of_verdicts_at_every_call():
    """verdict_weights: flip 0 is the judge, 1 its inverse; a share p flips about p of the sentences, the
    same ones each time (every seed trains on the same weights), and a larger share flips a superset."""
    from aspo_repro.training.formatting import verdict_weights

    verdicts = [1, 0, -1, 1, 0, 1]
    assert verdict_weights("pair-0", verdicts) == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert verdict_weights("pair-0", verdicts, 1.0) == [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    exact = [w for i in range(2000) for w in verdict_weights(i, verdicts)]
    flipped = {p: [w for i in range(2000) for w in verdict_weights(i, verdicts, p)] for p in (0.15, 0.3)}
    changed = {p: {k for k, (a, b) in enumerate(zip(exact, ws)) if a != b} for p, ws in flipped.items()}
    assert abs(len(changed[0.3]) / len(exact) - 0.3) < 0.02 and abs(len(changed[0.15]) / len(exact) - 0.15) < 0.02
    assert changed[0.15] < changed[0.3]
    assert verdict_weights(7, verdicts, 0.3) == verdict_weights(7, verdicts, 0.3)
