"""The exact judges answer the GPT judges' own prompts with the mini world's rule verdicts, in the
formats the clients parse, and the judge server serves them when asked to."""

from __future__ import annotations

from aspo_repro.evaluation.shr import (
    OpenAIJudge,
    RuleJudge,
    judge_prompt,
    parse_judgement,
    split_like_ha_dpo,
)
from aspo_repro.rehearsal import exact_judge as ej
from aspo_repro.rehearsal.judge_server import JudgeServer
from aspo_repro.rehearsal.mini_datasets import shr_facts

SCENE = {"id": "s", "objects": [{"shape": "circle", "colour": "red", "size": "large", "row": 0, "column": 0},
                                {"shape": "square", "colour": "blue", "size": "small", "row": 2, "column": 1}]}
DESCRIPTION = ("There are two objects in the image. A red circle is in the top left. A green square is in the "
               "bottom center. A star is shining. The red circle is above the blue square.")


def _shr_doc() -> dict:
    return {"id": "1000", "regions": "[0.0, 0.0, 0.33, 0.33]: red circle\n", "factual": "\n".join(shr_facts(SCENE)) + "\n"}


def test_the_scene_is_read_back_from_the_factual_notes():
    scene = ej.scene_from_facts(judge_prompt(["A comment."], _shr_doc()))
    assert sorted(o.to_dict().items() for o in scene.objects) == sorted(
        {**o}.items() for o in SCENE["objects"])


def test_the_shr_reply_gives_the_rule_judges_verdicts_as_parse_judgement_reads_them():
    sentences = split_like_ha_dpo(DESCRIPTION)
    reply = ej.exact_shr_reply(judge_prompt(sentences, _shr_doc()), seed=0)
    labels = parse_judgement(reply, len(sentences))
    expected = [v.label for v in RuleJudge().judge(DESCRIPTION, {"scene": SCENE})]
    assert labels == expected == ["correct", "correct", "hallucination", "cannot judge", "correct"]


def test_a_document_without_world_facts_gets_no_verdict():
    reply = ej.exact_shr_reply(judge_prompt(["A red circle is in the top left."], {"factual": "A photo of a dog.\n"}), 0)
    assert parse_judgement(reply, 1) == [None]


def _mmbench_prompt(options: list[str], answer: str) -> str:
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    evaluator = MMBench_Evaluator()
    return evaluator.build_prompt("What colour is the circle", evaluator.build_option_str(options), answer)


def test_the_mmbench_reply_is_the_option_the_answer_is_else_e():
    options = ["top center", "center", "top left", "bottom right"]
    assert ej.exact_mmbench_reply(_mmbench_prompt(options, "top center"), 0) == "A"
    assert ej.exact_mmbench_reply(_mmbench_prompt(options, "Center."), 0) == "B"
    assert ej.exact_mmbench_reply(_mmbench_prompt(options, "somewhere"), 0) == "E"


def test_the_server_answers_shr_by_the_rules_through_the_projects_judge_client():
    with JudgeServer(judges=ej.EXACT_JUDGES) as server:
        env = server.environment()
        judge = OpenAIJudge(model=env["ASPO_SHR_JUDGE_MODEL"], api_key=env["OPENAI_API_KEY"],
                            base_url=env["OPENAI_BASE_URL"])
        verdicts = judge.judge(DESCRIPTION, _shr_doc())
    assert [v.label for v in verdicts] == [v.label for v in RuleJudge().judge(DESCRIPTION, {"scene": SCENE})]
