"""The base-quality figure (issue 31): its spec, the runs and graded models it plans, and the numbers it
plots from hand-made eval.json files: each level's base score, its weights' AUC from its own diagnosis, and
ASPO minus DPO paired by seed."""

from __future__ import annotations

import json
import shutil

import pytest

from aspo_repro.errors import UserError
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey, diagnosis_path
from aspo_repro.tables import catalog, render_table
from aspo_repro.tables.catalog import SPEC_DIR
from aspo_repro.tables.specs import load_spec
from aspo_repro.tables.table_file import BaseQualityFile

MODELS = ["mini-llava-s", "mini-llava-m", "mini-instructblip"]


def test_the_spec_reads_as_a_study_of_the_mini_profile():
    spec = load_spec("base-quality", "mini")
    assert isinstance(spec.file, BaseQualityFile) and not spec.file.in_paper
    assert "base-quality" in catalog.known_names() and "base-quality" not in catalog.paper_names()
    assert spec.models == tuple(MODELS) and spec.budgets == (0.1, 0.3, 1.0)
    assert spec.levels("mini-llava-s") == ["mini-llava-s-sft10", "mini-llava-s-sft30", "mini-llava-s"]
    assert (spec.file.method, spec.file.versus, spec.file.quality) == ("aspo", "dpo", "mini_shr")
    with pytest.raises(UserError, match="no `profiles: paper:` section"):
        load_spec("base-quality", "paper")


@pytest.mark.parametrize(("written", "instead", "message"), [
    ("budgets: [0.1, 0.3]", "budgets: [0.1, 1.5]", "budgets: an SFT budget is a whole percentage from 1 to 99"),
    ("budgets: [0.1, 0.3]", "budgets: [0.1, 0.333]", "budgets: an SFT budget is a whole percentage"),
    ("models: [mini-llava-s,", "models: [llava-1.5-7b,", "'llava-1.5-7b' is a paper-profile model"),
    ("method: aspo\n", "method: aspo[alpha=0.5]\n", "not canonical"),
    ("quality: mini_shr\n", "quality: shr\n", "unknown mini-profile benchmark 'shr'"),
    ("versus: dpo\n", "versus: dpo\nseeds: 5\n", r"unknown key\(s\) seeds"),
])
def test_a_fault_in_the_file_is_named(tmp_path, written, instead, message):
    shutil.copytree(SPEC_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "base_quality.yaml"
    assert written in path.read_text()
    path.write_text(path.read_text().replace(written, instead, 1))
    with pytest.raises(UserError, match=message) as error:
        load_spec("base-quality", "mini", spec_dir=tmp_path)
    assert str(error.value).startswith(str(path))


def test_reproduce_trains_each_graded_model_before_its_data_and_its_base_evaluation():
    from aspo_repro.orchestration import load_profile, plan_tables
    from aspo_repro.orchestration.step_kinds import EVALUATE, SFT, TRAIN

    plan = plan_tables(["base-quality"], load_profile("mini"), models=["mini-llava-s"], seeds=3)
    levels = ["mini-llava-s-sft10", "mini-llava-s-sft30", "mini-llava-s"]
    assert [step.model for step in plan.of_kind(SFT)] == levels[:2]  # the world's own model is the world's
    trained = {(step.run.model, step.run.method, step.run.seed) for step in plan.of_kind(TRAIN)}
    assert trained == {(model, method, seed) for model in levels for method in ("dpo", "aspo") for seed in range(3)}
    steps = {step.key: step for step in plan.steps}
    order = [step.key for step in plan.steps]
    for model in levels[:2]:
        base_evaluation = next(s for s in plan.of_kind(EVALUATE) if s.run.model == model and s.run.is_base)
        assert ("sft", model) in steps[("prefs", model)].needs and ("sft", model) in base_evaluation.needs
        assert order.index(("sft", model)) < order.index(("prefs", model))
    full_evaluation = next(s for s in plan.of_kind(EVALUATE) if s.run.model == "mini-llava-s" and s.run.is_base)
    assert full_evaluation.needs == (("world",),)


# ---------------------------------------------------------------- rendering from hand-made results
def save(root, model, method, seed, shr, correct=1.0, hallucinated=3.0):
    scores = {"mini_shr": BenchmarkScore(shr), "mini_shr_correct": BenchmarkScore(correct),
              "mini_shr_hallucinated": BenchmarkScore(hallucinated)}
    EvalResult(RunKey("mini", model, method, seed), scores, {"test": True}).save_to(root)


def diagnosis(root, model, auc):
    weights = {"aspo": {"auc_within_answer": {"value": auc, "ci95": [auc - 0.02, auc + 0.02], "answers": 300}}}
    path = diagnosis_path(root, "mini", model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"weights": weights}))


def rows_of(markdown: str) -> dict[str, list[str]]:
    """The Markdown table's cells by the level's label."""
    return {cells[0]: cells for line in markdown.splitlines() if line.startswith("| mini-")
            for cells in [[cell.strip() for cell in line.strip("|").split("|")]]}


@pytest.fixture
def rendered(tmp_path):
    """mini-LLaVA-S at 10% (base mini-SHR 90), 30% (80) and 100% (70); ASPO 1, 2 and 3 points under DPO on
    the same seeds (seed 0 of the 10% level missing); nothing for the other families."""
    root = tmp_path / "results"
    for level, base, gain, auc in (("mini-llava-s-sft10", 90.0, -1.0, 0.6), ("mini-llava-s-sft30", 80.0, -2.0, 0.7),
                                   ("mini-llava-s", 70.0, -3.0, 0.8)):
        save(root, level, "base", 0, base, correct=0.5 if level.endswith("sft10") else 1.2)
        diagnosis(root, level, auc)
        for seed, dpo in ((0, 60.0), (1, 70.0), (2, 65.0)):
            save(root, level, "dpo", seed, dpo)
            if not (level.endswith("sft10") and seed == 0):
                save(root, level, "aspo", seed, dpo + gain, hallucinated=3.0 + gain / 10)
    paths = render_table("base-quality", "mini", root, tmp_path / "tables")
    return paths, (tmp_path / "tables" / "base-quality.md").read_text()


def test_it_writes_the_figure_and_its_numbers(rendered):
    paths, markdown = rendered
    assert sorted(p.name for p in paths) == ["base-quality.md", "base-quality.pdf", "base-quality.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "Provenance: 20 run(s)" in markdown


def test_each_level_shows_its_base_score_its_auc_and_its_gain_paired_by_seed(rendered):
    rows = rows_of(rendered[1])
    weakest, middle, whole = rows["mini-LLaVA-S, SFT 10%"], rows["mini-LLaVA-S, SFT 30%"], rows["mini-LLaVA-S"]
    assert weakest[1:5] == ["10%", "90.00", "0.500", "3.000"]
    assert middle[1:3] == ["30%", "80.00"] and whole[1:3] == ["100%", "70.00"]
    assert weakest[5:8] == ["0.60 [0.58, 0.62]", "preference diagnosis (S+P weights, 300 answers)", "n=2"]
    assert weakest[8] == "-1.00 ± 0.00*" and middle[8] == "-2.00 ± 0.00*" and whole[8] == "-3.00 ± 0.00*"
    assert whole[10] == "-0.300 ± 0.000*" and whole[9] == "+0.000 ± 0.000"


def test_a_level_without_results_is_missing_not_invented(rendered):
    markdown = rendered[1]
    rows = rows_of(markdown)
    assert rows["mini-InstructBLIP, SFT 10%"][2:] == ["—", "—", "—", "—", "no preference data yet", "—", "—", "—", "—"]
    assert "Missing (no result yet): mini-LLaVA-M, SFT 10%;" in markdown
