"""The mini benchmarks end to end through lmms-eval (simple_evaluate, the project's task folder),
with scripted answerers whose scores are known by hand."""

import json

import pytest
from eval_fixtures import MMB, POPE_POSITIVES, ScriptedAnswerer, perfect_answer

from aspo_repro.evaluation import benchmarks
from aspo_repro.evaluation.runner import EvalSettings, evaluate
from aspo_repro.miniworld import lexicon
from aspo_repro.results import EvalResult, RunKey


def settings(tmp_path, benchmark_dir, names="mini", **kwargs):
    return EvalSettings(model_dir=tmp_path / "scripted", benchmarks=benchmarks.select(names),
                        out=tmp_path / "run" / "eval.json", run=RunKey("mini", "scripted", "base"),
                        benchmark_dir=benchmark_dir, **kwargs)


def test_a_perfect_answerer_scores_100_everywhere_and_0_shr(tmp_path, benchmark_dir):
    answerer = ScriptedAnswerer(perfect_answer)
    result = evaluate(settings(tmp_path, benchmark_dir), model=answerer)
    values = {name: score.value for name, score in result.scores.items()}
    # beside SHR, its correct and hallucinated sentences per description: (4 + 2 + 5) / 3 and 0
    assert values == {"mini_pope": 100.0, "mini_shr": 0.0, "mini_gqa": 100.0, "mini_mmb": 100.0,
                      "mini_shr_correct": pytest.approx(11 / 3), "mini_shr_hallucinated": 0.0}
    assert {name: score.n for name, score in result.scores.items()} == \
        {"mini_pope": 13, "mini_shr": 3, "mini_gqa": 4, "mini_mmb": 2, "mini_shr_correct": 3,
         "mini_shr_hallucinated": 3}
    # every score keeps its items, (numerator, denominator) per question or description, to resample
    assert result.scores["mini_shr"].items == {"mini_shr": [[0, 4], [0, 2], [0, 5]]}
    assert result.scores["mini_mmb"].items == {"mini_mmb": [[1, 1], [1, 1]]}
    assert sum(len(pairs) for pairs in result.scores["mini_pope"].items.values()) == 13
    assert result.scores["mini_shr"].judge == "mini-world rule judge (exact)"
    assert result.scores["mini_gqa"].stderr == 0.0
    # SHR's denominator: (count + 2 objects + relation) + (count + object) + (count + 3 objects + relation)
    shr_raw = json.loads((tmp_path / "run" / "eval.lmms_eval" / "mini_shr.json").read_text())
    assert sum(sample["shr"]["judged"] for sample in shr_raw["output"]["samples"]["mini_shr"]) == 4 + 2 + 5
    # the file on disk is the same result, with lmms-eval's versions and raw output beside it
    saved = EvalResult.load(tmp_path / "run" / "eval.json")
    assert saved.scores == result.scores
    assert saved.provenance["lmms_eval_version"] == "0.7.3"
    assert saved.provenance["task_versions"]["mini_pope_random"] == 1.0
    raw = json.loads((tmp_path / "run" / "eval.lmms_eval" / "mini_mmb.json").read_text())
    assert len(raw["output"]["samples"]["mini_mmb"]) == 8  # 2 questions x 4 rotations
    # and its excerpt, what the committed references keep of the answers (evaluation/excerpt.py)
    shown = json.loads((tmp_path / "run" / "eval.lmms_eval.excerpt" / "mini_shr.json").read_text())
    first = shown["output"]["samples"]["mini_shr"][0]
    assert first["filtered_resps"] == shr_raw["output"]["samples"]["mini_shr"][0]["filtered_resps"]
    assert first["shr"]["verdicts"] == shr_raw["output"]["samples"]["mini_shr"][0]["shr"]["verdicts"]


def test_prompts_are_the_worlds_own(tmp_path, benchmark_dir):
    answerer = ScriptedAnswerer(perfect_answer)
    evaluate(settings(tmp_path, benchmark_dir, "mini_mmb,mini_pope"), model=answerer)
    assert answerer.prompts["mini_mmb"][0] == (
        "What colour is the square?\nA. red\nB. blue\nC. green\nD. white\n"
        "Answer with the option from the given choices directly.")
    assert answerer.prompts["mini_pope_random"][0] == (
        "Is there a circle in the image?\nAnswer the question using a single word or phrase.")


def test_always_yes_gets_the_pope_f1_and_yes_ratio_it_must(tmp_path, benchmark_dir):
    result = evaluate(settings(tmp_path, benchmark_dir, "mini_pope"), model=ScriptedAnswerer(lambda task, doc: "Yes"))
    per_split = result.extra["details"]["mini_pope"]["tasks"]
    expected_f1 = {}
    for split, (yes, no) in POPE_POSITIVES.items():  # precision yes/(yes+no), recall 1
        expected_f1[split] = 2 * yes / (2 * yes + no)
        task = per_split[f"mini_pope_{split}"]
        assert task["pope_f1"] == pytest.approx(expected_f1[split])
        assert task["pope_yes_ratio"] == 1.0
        assert task["pope_recall"] == 1.0
        assert task["pope_accuracy"] == pytest.approx(yes / (yes + no))
    assert expected_f1 == pytest.approx({"random": 0.75, "popular": 2 / 3, "adversarial": 0.4})
    assert result.scores["mini_pope"].value == pytest.approx((0.75 + 2 / 3 + 0.4) / 3 * 100)  # 60.56


def test_circular_evaluation_counts_a_question_only_if_every_rotation_is_right(tmp_path, benchmark_dir):
    def right_except_last_rotation_of_the_second_question(task, doc):
        index = doc["answer"]
        if doc["question_id"] == "mmb-1" and doc["rotation"] == 3:
            index = (index + 1) % 4
        return lexicon.OPTION_LETTERS[index]

    result = evaluate(settings(tmp_path, benchmark_dir, "mini_mmb"),
                      model=ScriptedAnswerer(right_except_last_rotation_of_the_second_question))
    assert result.scores["mini_mmb"].value == 50.0
    assert result.extra["details"]["mini_mmb"]["tasks"]["mini_mmb"]["rotation_accuracy"] == 7 / 8
    # an answerer that always says "B" is right once per question (the right option visits B once) -> 0
    result = evaluate(settings(tmp_path / "b", benchmark_dir, "mini_mmb"), model=ScriptedAnswerer(lambda t, d: "B"))
    assert result.scores["mini_mmb"].value == 0.0
    assert result.extra["details"]["mini_mmb"]["tasks"]["mini_mmb"]["rotation_accuracy"] == 2 / 8
    assert len(MMB) == 2


def test_mmb_takes_an_answer_by_its_letter_or_by_the_options_text(tmp_path, benchmark_dir):
    def by_text_in_odd_rotations(task, doc):
        if doc["rotation"] % 2:
            return doc["options"][doc["answer"]].upper() + "."
        return lexicon.OPTION_LETTERS[doc["answer"]]

    result = evaluate(settings(tmp_path, benchmark_dir, "mini_mmb"), model=ScriptedAnswerer(by_text_in_odd_rotations))
    assert result.scores["mini_mmb"].value == 100.0
    # the text of a wrong option picks that option: with the first option always, right once per question
    result = evaluate(settings(tmp_path / "first", benchmark_dir, "mini_mmb"),
                      model=ScriptedAnswerer(lambda t, d: d["options"][0]))
    assert result.scores["mini_mmb"].value == 0.0
    assert result.extra["details"]["mini_mmb"]["tasks"]["mini_mmb"]["rotation_accuracy"] == 2 / 8


def test_an_interrupted_evaluation_leaves_no_result_and_resumes(tmp_path, benchmark_dir):
    def interrupted_at_gqa(task, doc):
        if task == "mini_gqa":
            raise KeyboardInterrupt
        return perfect_answer(task, doc)

    with pytest.raises(KeyboardInterrupt):
        evaluate(settings(tmp_path, benchmark_dir), model=ScriptedAnswerer(interrupted_at_gqa))
    out = tmp_path / "run" / "eval.json"
    assert not out.exists()
    assert sorted(p.name for p in (tmp_path / "run" / "eval.lmms_eval").glob("*.json")) == \
        ["mini_pope.json", "mini_shr.json"]
    resumed = ScriptedAnswerer(perfect_answer)
    result = evaluate(settings(tmp_path, benchmark_dir), model=resumed)
    assert set(resumed.prompts) == {"mini_gqa", "mini_mmb"}  # finished benchmarks are not asked again
    assert set(result.scores) == {"mini_pope", "mini_shr", "mini_gqa", "mini_mmb", "mini_shr_correct",
                                  "mini_shr_hallucinated"}
    assert out.exists()


def test_limit_counts_questions_not_rotations(tmp_path, benchmark_dir):
    answerer = ScriptedAnswerer(perfect_answer)
    result = evaluate(settings(tmp_path, benchmark_dir, "mini_mmb,mini_gqa", limit=1), model=answerer)
    assert result.scores["mini_mmb"].n == 1 and len(answerer.prompts["mini_mmb"]) == 4
    assert result.scores["mini_gqa"].n == 1


def test_a_missing_benchmark_file_is_named(tmp_path, benchmark_dir):
    from aspo_repro.errors import UserError

    with pytest.raises(UserError, match="mini_pope.jsonl does not exist"):
        evaluate(settings(tmp_path, tmp_path, "mini_pope"), model=ScriptedAnswerer(perfect_answer))


def test_shr_through_lmms_eval_equals_judging_each_description_alone(tmp_path, benchmark_dir):
    """Regression: the rule judge splits sentences with one shared pysbd segmenter, which is not
    thread-safe; scored by lmms-eval's 4 threads, 300 varied descriptions lost sentences at random
    (SHR 88.65 / 88.78 / 88.80 in three runs instead of 88.89)."""
    import shutil

    from aspo_repro.evaluation.shr import RuleJudge, shr_record

    bench = shutil.copytree(benchmark_dir, tmp_path / "bench")
    docs = [json.loads(line) for line in (bench / "mini_shr.jsonl").read_text().splitlines()]
    many = [{**doc, "id": f"{doc['id']}-{i}"} for i in range(100) for doc in docs]
    (bench / "mini_shr.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in many))
    sentences = ["There are two objects in the image.", "A large yellow diamond is in the top center.",
                 "A large red circle is in the top left.", "The red circle is to the left of the blue square.",
                 "A small green square is in the center."]

    def varied(task, doc):  # 1 to 5 sentences, different from one description to the next
        return " ".join(sentences[: int(doc["id"].rsplit("-", 1)[1]) % 5 + 1])

    records = [shr_record(varied("mini_shr", doc), doc, RuleJudge()) for doc in many]
    expected = 100 * sum(r["hallucinated"] for r in records) / sum(r["judged"] for r in records)
    for run in ("first", "second"):
        result = evaluate(settings(tmp_path / run, bench, "mini_shr"), model=ScriptedAnswerer(varied))
        assert result.scores["mini_shr"].value == pytest.approx(expected)
        assert result.scores["mini_shr"].n == 300
