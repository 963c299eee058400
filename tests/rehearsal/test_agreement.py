"""Per-question agreement between the paper path's and the mini tasks' logged samples."""

from __future__ import annotations

import pytest

from aspo_repro.rehearsal import agreement as ag


def _sample(doc: dict, response: str, doc_id: int = 0, **metrics) -> dict:
    return {"doc_id": doc_id, "doc": doc, "filtered_resps": [response], "resps": [[response]], **metrics}


def _pope_paper(question_id: str, response: str) -> dict:
    prediction = response.lower().strip()
    return _sample({"question_id": question_id}, response,
                   pope_f1_score={"prediction": prediction, "ground_truth": "yes", "question_id": question_id})


def _pope_mini(doc_id: str, response: str) -> dict:
    from aspo_repro.miniworld.judge import parse_yes_no

    return _sample({"id": doc_id}, response, pope_f1={"id": doc_id, "prediction": parse_yes_no(response) or "other",
                                                       "answer": "yes"})


def test_pope_answers_pair_by_question_and_compare_the_extracted_answers():
    paper = ag.paper_pope([_pope_paper("q1", "Yes"), _pope_paper("q2", "No"), _pope_paper("q3", "Yes, there is.")])
    mini = ag.mini_pope([_pope_mini("q3", "Yes, there is."), _pope_mini("q1", "Yes"), _pope_mini("q2", "Yes")])
    result = ag.agreement(paper, mini)
    assert (result.items, result.same_response, result.same_parsed, result.same_parsed_given_same_response) == (3, 2, 1, 1)
    assert [e["question"] for e in result.examples] == ["q2", "q3"]
    assert result.examples[1]["paper_parsed"] == ag.NONE and result.examples[1]["own_parsed"] == "yes"


def test_gqa_reads_case_and_punctuation_away_but_only_the_mini_rule_reads_number_words():
    paper = ag.paper_gqa([_sample({"id": "g1"}, "Top left."), _sample({"id": "g2"}, "two")])
    mini = ag.mini_gqa([_sample({"id": "g1"}, "Top left."), _sample({"id": "g2"}, "two")])
    assert [a.parsed for a in paper] == ["top left", "two"] and [a.parsed for a in mini] == ["top left", "2"]
    assert ag.agreement(paper, mini).same_parsed_given_same_response == 1


def test_multiple_choice_letters_follow_each_lmms_eval_rule():
    assert [ag.sqa_letter(r, 4) for r in ("B", "b", "C. red", "red", "E")] == ["B", "B", "C", ag.NONE, ag.NONE]
    assert [ag.seed_letter(r) for r in ("B", "blue", "red", "2", "")] == ["B", "B", ag.NONE, ag.NONE, ag.NONE]


def _mmbench_paper(source: str, number: int, rotation: int, options: list[str], response: str) -> dict:
    doc = {"index": number + rotation * 1_000_000, "source": source, "answer": "A",
           **{c: (options[k] if k < len(options) else None) for k, c in enumerate("ABCD")}}
    return _sample(doc, response)


def _mini_mmb(question: str, rotation: int, choice: int | None, correct: bool) -> dict:
    return _sample({"id": f"{question}#{rotation}", "question_id": question, "rotation": rotation}, "x",
                   circular_accuracy={"question_id": question, "rotation": rotation, "prediction": choice,
                                      "correct": correct})


def test_mmbench_extraction_is_lmms_evals_rules_then_the_exact_judges():
    options = ["top center", "center", "top left", "bottom right"]
    assert ag.mmbench_letter("B", {c: o for c, o in zip("ABCD", options)}) == "B"
    assert ag.mmbench_letter("top left", {c: o for c, o in zip("ABCD", options)}) == "C"
    # "center" is inside "top center": lmms-eval's text rule finds two options and asks the judge
    assert ag.mmbench_letter("top center", {c: o for c, o in zip("ABCD", options)}) == "A"
    assert ag.mmbench_letter("purple", {c: o for c, o in zip("ABCD", options)}) == ag.NONE
    paper = ag.paper_mmbench([_mmbench_paper("mmb-0", 0, 1, options[1:] + options[:1], "top left")])
    assert paper == [ag.Answer("mmb-0#1", "top left", "B")]
    mini = ag.mini_mmb([_mini_mmb("mmb-0", 1, 1, True), _mini_mmb("mmb-0", 0, None, False)])
    assert ag.agreement(paper, mini).same_parsed == 1


def test_seed_and_scienceqa_meet_the_first_rotation_and_its_accuracy():
    mini = [_mini_mmb("m0", 0, 2, True), _mini_mmb("m0", 1, 2, False), _mini_mmb("m1", 0, None, False)]
    assert [a.key for a in ag.mini_mmb_first_rotation(mini)] == ["m0#0", "m1#0"]
    assert ag.first_rotation_accuracy(mini) == pytest.approx(50.0)
    sqa = ag.paper_sqa([_sample({"choices": ["a", "b", "c"]}, "C", doc_id=1)], ids=["m0", "m1"])
    assert sqa == [ag.Answer("m1#0", "C", "C", ag.LETTER_ONLY)]


def test_shr_compares_each_descriptions_verdicts_sentence_by_sentence():
    record = {"verdicts": [["A red circle is in the top left.", "correct"], ["A star.", "cannot judge"]]}
    paper = ag.paper_shr([_sample({"id": "1001"}, "d", shr={"verdicts": [["A red circle is in the top left.", "correct"],
                                                                         ["A star.", "cannot judge"]]})],
                         ids=["shr-0", "shr-1"])
    mini = ag.mini_shr([_sample({"id": "shr-1"}, "d", shr=record)])
    assert paper[0].key == "shr-1" and ag.agreement(paper, mini).same_parsed == 1
    changed = ag.mini_shr([_sample({"id": "shr-1"}, "d", shr={"verdicts": record["verdicts"][:1]})])
    assert ag.agreement(paper, changed).same_parsed == 0


def test_a_disagreement_on_the_same_response_is_explained_only_by_a_named_rule_difference():
    paper = ag.paper_pope([_pope_paper("q1", "Yes, there is."), _pope_paper("q2", "Yes")])
    mini = ag.mini_pope([_pope_mini("q1", "Yes, there is."), _pope_mini("q2", "Yes")])
    result = ag.agreement(paper, mini)
    assert (result.explained, result.unexplained) == ({ag.BARE_YES_NO: 1}, 0)
    # the same response read apart with no rule difference behind it: a defect
    broken = [ag.Answer("q2", "Yes", "no")]
    assert ag.agreement(broken, mini).unexplained == 1


def test_mmbench_names_its_text_inside_the_answer_rule():
    options = {"A": "center", "B": "bottom left", "C": "top left", "D": "bottom right"}
    assert ag.mmbench_reading("center right", options) == ("A", ag.TEXT_INSIDE)
    assert ag.mmbench_reading("center", options) == ("A", None)
    assert ag.mmbench_reading("D", options) == ("D", None)


def test_gqa_and_shr_name_their_rule_differences():
    assert ag.paper_gqa([_sample({"id": "g"}, "two")])[0].rule == ag.NUMBER_WORDS
    assert ag.paper_gqa([_sample({"id": "g"}, "2")])[0].rule is None
    repeated = "A red circle is in the top left. A red circle is in the top left."
    shr = ag.paper_shr([_sample({"id": "1000"}, repeated, shr={"verdicts": []})], ids=["s0"])
    assert shr[0].rule == ag.HA_DPO_SPLIT
    once = ag.paper_shr([_sample({"id": "1000"}, "A red circle is in the top left.", shr={"verdicts": []})], ids=["s0"])
    assert once[0].rule is None
