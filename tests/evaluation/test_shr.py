"""SHR's judges: the exact rule judge (mini) and the OpenAI-compatible GPT judge (paper)."""

import json

import pytest
from eval_fixtures import SCENES, FakeChat, write_ha_dpo_files

from aspo_repro.errors import UserError
from aspo_repro.evaluation import shr


def test_rule_judge_labels_each_sentence_against_the_scene():
    doc = {"id": "d", "scene": SCENES["s1"]}  # large red circle top left, small blue square center
    text = ("There are two objects in the image. A large red circle is in the top left. "
            "A small green square is in the center. A large yellow star is in the bottom right. Lovely colours!")
    record = shr.shr_record(text, doc, shr.RuleJudge())
    labels = [label for _, label in record["verdicts"]]
    # a sentence outside the world's grammar cannot be judged, and counts in SHR's denominator as
    # HA-DPO counts GPT's "cannot judge" (issue 16: it was left out, raising SHR)
    assert labels == ["correct", "correct", "hallucination", "hallucination", "cannot judge"]
    assert (record["hallucinated"], record["correct"], record["judged"], record["sentences"]) == (2, 2, 5, 5)


def test_ha_dpo_split_drops_repeats_and_keeps_full_stops():
    text = "A dog runs. A dog runs. A dog. A cat sleeps on a mat.  "
    assert shr.split_like_ha_dpo(text) == ["A dog runs.", "A cat sleeps on a mat."]


def test_parse_judgement_reads_numbered_labels():
    reply = "Some preamble\nJudgement:\n1. hallucination: no dog\n2. Correct: yes\n3. cannot judge: mood\n"
    assert shr.parse_judgement(reply, 3) == ["hallucination", "correct", "cannot judge"]
    assert shr.parse_judgement(reply, 2) == [None, None]  # the count must match, as in HA-DPO
    assert shr.parse_judgement("no header here", 1) == [None]


def test_openai_judge_sends_regions_and_counts_cannot_judge_in_the_denominator():
    client = FakeChat(["Judgement:\n1. hallucination: x\n2. correct: y\n3. cannot judge: z"])
    judge = shr.OpenAIJudge(client=client)
    doc = {"id": "1", "regions": "[0.1, 0.2, 0.5, 0.6]: a red car\n", "factual": "A car is red.\n"}
    record = shr.shr_record("A blue car is parked. It is red. It feels calm.", doc, judge)
    assert (record["hallucinated"], record["judged"], record["sentences"]) == (1, 3, 3)
    prompt = client.prompts[0]
    assert "[0.1, 0.2, 0.5, 0.6]: a red car" in prompt and "A car is red." in prompt
    assert "1. A blue car is parked\n2. It is red\n3. It feels calm" in prompt
    assert judge.name == "gpt-4-0613 via api.openai.com"


def test_openai_judge_retries_an_unreadable_reply_then_gives_up_without_labels():
    client = FakeChat(["I refuse", "Judgement:\n1. correct: fine"])
    record = shr.shr_record("A car.", {"id": "2"}, shr.OpenAIJudge(client=client))
    assert record["judged"] == 1 and len(client.prompts) == 2
    client = FakeChat(["nope"] * 3)
    record = shr.shr_record("A car.", {"id": "3"}, shr.OpenAIJudge(client=client))
    assert (record["judged"], record["sentences"]) == (0, 1)


def test_openai_judge_without_a_key_says_which_variable(monkeypatch):
    monkeypatch.delenv(shr.API_KEY_ENV, raising=False)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        shr.OpenAIJudge.from_env()


def test_prepare_shr_docs_builds_regions_like_ha_dpo(tmp_path):
    write_ha_dpo_files(tmp_path)
    out = shr.prepare_shr_docs(tmp_path / "shr", tmp_path / "vg", tmp_path / "shr.jsonl")
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["id"] for d in docs] == ["7", "9"]
    assert docs[0]["regions"] == "[0.1, 0.1, 0.6, 0.6]: red car\n"  # x/w, y/h, (x+w)/w, (y+h)/h
    assert docs[0]["factual"] == "A car is red.\nIt is parked.\n"
    assert docs[0]["image"] == str(tmp_path / "vg" / "VG_100K" / "7.jpg")
    assert docs[1]["question"] == "Describe this image in detail."


def test_prepare_shr_docs_names_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="val_images_final.json"):
        shr.prepare_shr_docs(tmp_path, tmp_path, tmp_path / "out.jsonl")


HA_DPO_STYLE_SOURCE = '''
import openai

TEMPLATE = """Judge these comments.
Regions:
{}
Facts:
{}
Comments:
{}
Judgement:
1. hallucination or correct or cannot judge: <reason>"""


def ask(prompt):
    return "not a prompt: {} {}"
'''


def test_the_verbatim_judge_prompt_is_read_from_an_ha_dpo_checkout_and_sent(tmp_path, monkeypatch):
    source = tmp_path / "gpt_utils.py"
    source.write_text(HA_DPO_STYLE_SOURCE)
    template = shr.read_judge_prompt(source)
    assert template.startswith("Judge these comments.") and template.count("{}") == 3
    monkeypatch.setenv(shr.API_KEY_ENV, "sk-test")
    judge = shr.OpenAIJudge.from_env(template)
    judge.client = FakeChat(["Judgement:\n1. correct: yes"])
    shr.shr_record("A car.", {"id": "1", "regions": "R", "factual": "F"}, judge)
    assert judge.client.prompts == [template.format("R", "F", "1. A car")]


def test_a_judge_prompt_without_its_three_placeholders_is_refused(tmp_path):
    text = tmp_path / "prompt.txt"
    text.write_text("Judge {regions} and {}.")
    with pytest.raises(UserError, match="three \\{\\} placeholders"):
        shr.read_judge_prompt(text)
    source = tmp_path / "gpt_utils.py"
    source.write_text("A = 'no prompt here'\n")
    with pytest.raises(UserError, match="expected one judge prompt.*found 0"):
        shr.read_judge_prompt(source)
