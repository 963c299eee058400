"""Per-item contributions of lmms-eval's paper tasks (normalise.item_ratios, metrics.METRICS,
verdicts): on logged samples in lmms-eval's own format, the items' ratio of sums is the score
lmms-eval's own aggregation reports.

``data/lmms_eval_samples.json`` holds the logged samples of one paper-rehearsal evaluation through
the runner (llava-1.5-7b base, the llava protocol, 8 questions per task; each benchmark's metric
record only, long texts cut; MMBench's with the verdicts the runner recorded). The rehearsal's
stand-in models answer at random, so several of its scores are 0: each benchmark is also checked on
answers drawn at random into the same records, against lmms-eval's own aggregation functions.
"""

from __future__ import annotations

import copy
import importlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from aspo_repro.evaluation import verdicts
from aspo_repro.evaluation.benchmarks import REGISTRY, benchmark_names
from aspo_repro.evaluation.metrics import CIRCULAR_HIT, METRICS, ratio_of_sums
from aspo_repro.evaluation.normalise import item_ratios, normalise

LOGGED = json.loads((Path(__file__).parent / "data" / "lmms_eval_samples.json").read_text())
DRAWS = 20


@pytest.fixture(scope="module")
def lmms_task(request):
    """``lmms_task("pope")``: lmms-eval's utils module of a task (MM-Vet's builds its judge client on import)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("OPENAI_API_KEY", "not-used")
    request.addfinalizer(patch.undo)
    return lambda name: importlib.import_module(f"lmms_eval.tasks.{name}.utils")


def logged(benchmark: str) -> dict:
    return copy.deepcopy(LOGGED[benchmark])


def records(raw: dict, task: str, metric: str) -> list:
    return [sample[metric] for sample in raw["samples"][task] if metric in sample]


def items_score(benchmark: str, raw: dict) -> float:
    """The benchmark's score from its items: the mean over tasks of sum(num) / sum(den), x scale."""
    items = item_ratios(REGISTRY[benchmark], raw)
    return float(np.mean([ratio_of_sums(pairs) for pairs in items.values()])) * REGISTRY[benchmark].scale


def test_every_paper_benchmark_scored_here_has_an_item_rule():
    scored = [REGISTRY[name] for name in benchmark_names("paper") if not REGISTRY[name].submission]
    assert [b.name for b in scored if b.item_rule not in METRICS] == []


@pytest.mark.parametrize("name", ["pope", "gqa", "sqa_img", "seed_image", "mmbench_dev", "mmbench_cn", "mmvet"])
def test_items_reproduce_the_logged_score(name):
    raw = logged(name)
    score = normalise(REGISTRY[name], raw).score
    assert items_score(name, raw) == pytest.approx(score.value, abs=1e-9)
    assert score.items == item_ratios(REGISTRY[name], raw)  # kept in eval.json


def test_llava_wild_items_reproduce_the_logged_score_up_to_lmms_evals_rounding():
    raw = logged("llava_wild")
    assert normalise(REGISTRY["llava_wild"], raw).score.value == 70.8
    # the model's judge scores sum to 34, the reference answers' to 48: 70.83, which lmms-eval rounds to 70.8
    assert items_score("llava_wild", raw) == pytest.approx(100 * 34 / 48)


def test_pope_without_a_yes_or_no_answer_has_items_but_no_f1_of_them(lmms_task):
    """No answer exactly yes or no (lmms-eval's protocol on a model that rambles): lmms-eval's F1 is 0
    by convention, and no item counts in F1's denominator, so the ratio of sums, and the interval, are undefined."""
    raw = logged("pope")
    for samples in raw["samples"].values():
        for sample in samples:
            sample["pope_f1_score"]["prediction"] = "midd bicycle? answer"
    assert lmms_task("pope").pope_aggregate_f1_score(records(raw, "pope_adv", "pope_f1_score")) == 0
    items = item_ratios(REGISTRY["pope"], raw)
    assert [len(pairs) for pairs in items.values()] == [8, 8, 8]
    assert all(pair == [0, 0] for pairs in items.values() for pair in pairs)


# ----------------------------------------------------------------------------- answers drawn at random

def with_answers(raw: dict, rng: random.Random) -> dict:
    """POPE's records with predictions drawn from lmms-eval's parsed answers (exact yes/no count, others not)."""
    for samples in raw["samples"].values():
        for sample in samples:
            sample["pope_f1_score"]["prediction"] = rng.choice(["yes", "no", "yes", "no", "yes, there is", "33"])
    return raw


def test_pope_f1_items_match_lmms_evals_aggregation(lmms_task):
    aggregate = lmms_task("pope").pope_aggregate_f1_score
    for draw in range(DRAWS):
        raw = with_answers(logged("pope"), random.Random(draw))
        expected = np.mean([aggregate(records(raw, task, "pope_f1_score")) for task in REGISTRY["pope"].tasks]) * 100
        assert items_score("pope", raw) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", ["gqa", "sqa_img"])
def test_exact_match_items_match_lmms_evals_mean(name):
    from lmms_eval.api.metrics import mean

    task = REGISTRY[name].tasks[0]
    for draw in range(DRAWS):
        rng, raw = random.Random(draw), logged(name)
        for sample in raw["samples"][task]:
            sample["exact_match"] = float(rng.random() < 0.6)
        assert items_score(name, raw) == pytest.approx(mean(records(raw, task, "exact_match")) * 100, abs=1e-9)


def test_seed_image_items_match_lmms_evals_aggregation_and_leave_video_questions_out(lmms_task):
    aggregate = lmms_task("seedbench").seed_aggregation_result
    for draw in range(DRAWS):
        rng, raw = random.Random(draw), logged("seed_image")
        for sample in raw["samples"]["seedbench"]:
            sample["seed_image"]["pred"] = rng.choice(["A", "B", "C", "D", "c", "m"])
        video = {"pred": "A", "answer": "A", "question_id": "v"}
        raw["samples"]["seedbench"].append({"doc_id": 99, "seed_video": video, "seed_all": video})
        expected = aggregate(records(raw, "seedbench", "seed_image")) * 100
        assert items_score("seed_image", raw) == pytest.approx(expected, abs=1e-9)
        assert len(item_ratios(REGISTRY["seed_image"], raw)["seedbench"]) == 8


def test_mmvet_items_match_lmms_evals_aggregation(lmms_task):
    aggregate = lmms_task("mmvet").mmvet_aggregate_results
    for draw in range(DRAWS):
        rng, raw = random.Random(draw), logged("mmvet")
        for sample in raw["samples"]["mmvet"]:
            sample["gpt_eval_score"]["score"] = rng.randrange(11) / 10
        assert items_score("mmvet", raw) == pytest.approx(aggregate(records(raw, "mmvet", "gpt_eval_score")), abs=1e-9)


def test_llava_wild_items_match_lmms_evals_aggregation_up_to_its_rounding(lmms_task):
    aggregate = importlib.import_module("lmms_eval.tasks.llava-in-the-wild.utils").llava_all_aggregation
    for draw in range(DRAWS):
        rng, raw = random.Random(draw), logged("llava_wild")
        for sample in raw["samples"]["llava_in_the_wild"]:  # a failed review, [-1, -1], now and then
            sample["gpt_eval_llava_all"]["scores"] = [-1, -1] if rng.random() < 0.1 else [rng.randint(1, 10), rng.randint(1, 10)]
        scores = np.array([r["scores"] for r in records(raw, "llava_in_the_wild", "gpt_eval_llava_all")], dtype=float)
        reference, model = scores.mean(0)
        # lmms-eval rounds both means to 3 decimals, then the ratio x 100 to 1 decimal
        tolerance = 0.05 + 100 * 0.0005 * (1 / abs(reference) + abs(model) / reference**2) + 1e-9
        assert items_score("llava_wild", raw) == pytest.approx(100 * model / reference, abs=1e-9)
        assert abs(items_score("llava_wild", raw) - aggregate(records(raw, "llava_in_the_wild", "gpt_eval_llava_all"))) <= tolerance


# ----------------------------------------------------------------------------- MMBench: verdicts at aggregation

def judged_by(monkeypatch, rng: random.Random):
    """lmms-eval's MMBench evaluator whose GPT judge answers a random letter (the rules decide the rest)."""
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    monkeypatch.setattr(MMBench_Evaluator, "get_chat_response", lambda self, prompt, **kw: rng.choice("ABCD"))
    return MMBench_Evaluator(sys_prompt="There are several options:")


@pytest.mark.parametrize("name", ["mmbench_dev", "mmbench_cn"])
def test_mmbench_items_are_lmms_evals_circular_verdicts(name, monkeypatch):
    task, metric = REGISTRY[name].tasks[0], REGISTRY[name].metric
    scores = []
    for draw in range(DRAWS):
        rng, raw = random.Random(draw), logged(name)
        for sample in raw["samples"][task]:  # letters the rules read, the right one often, and text for the judge
            sample[metric]["prediction"] = rng.choice(["A", "B", "C", *[sample[metric]["answer"]] * 3, "no idea"])
        evaluator = judged_by(monkeypatch, rng)
        with verdicts.recorded() as found:
            overall, _, _ = evaluator.eval_result(records(raw, task, metric), eval_method="openai")
        verdicts.add_to_samples(raw, REGISTRY[name], found)
        questions = {record["index"] % 1_000_000 for record in records(raw, task, metric)}
        assert sorted(found) == sorted(questions)
        assert items_score(name, raw) == pytest.approx(overall * 100, abs=1e-9)
        assert all(record[CIRCULAR_HIT] == found[record["index"] % 1_000_000] for record in records(raw, task, metric))
        scores.append(overall)
    assert len(set(scores)) > 2  # the draws exercised the rule: right and wrong questions, not one constant


def test_mmbench_logged_before_its_verdicts_were_recorded_has_no_items():
    raw = logged("mmbench_dev")
    for record in records(raw, "mmbench_en_dev", "gpt_eval_score"):
        del record[CIRCULAR_HIT]
    assert item_ratios(REGISTRY["mmbench_dev"], raw) is None
    assert normalise(REGISTRY["mmbench_dev"], raw).score.items is None


def test_verdicts_are_recorded_only_while_asked(monkeypatch):
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    original = MMBench_Evaluator.eval_sub_data
    with verdicts.recorded():
        assert MMBench_Evaluator.eval_sub_data is not original
    assert MMBench_Evaluator.eval_sub_data is original
