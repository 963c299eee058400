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
    assert spec.models == tuple(MODELS) and spec.budgets == (0.3, 1.0, 3.0)
    assert spec.levels("mini-llava-s") == ["mini-llava-s-sft30", "mini-llava-s", "mini-llava-s-sft300"]
    assert (spec.file.method, spec.file.versus, spec.file.quality) == ("aspo", "dpo", "mini_gqa")
    with pytest.raises(UserError, match="no `profiles: paper:` section"):
        load_spec("base-quality", "paper")


@pytest.mark.parametrize(("written", "instead", "message"), [
    ("budgets: [0.3, 3.0]", "budgets: [0.3, 1.0]", "budgets: an SFT budget is a whole percentage from 1% to 999%"),
    ("budgets: [0.3, 3.0]", "budgets: [0.3, 0.333]", "budgets: an SFT budget is a whole percentage"),
    ("models: [mini-llava-s,", "models: [llava-1.5-7b,", "'llava-1.5-7b' is a paper-profile model"),
    ("method: aspo\n", "method: aspo[alpha=0.5]\n", "not canonical"),
    ("quality: mini_gqa\n", "quality: gqa\n", "unknown mini-profile benchmark 'gqa'"),
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
    levels = ["mini-llava-s-sft30", "mini-llava-s-sft300", "mini-llava-s"]
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
def save(root, model, method, seed, shr, correct=1.0, hallucinated=3.0, gqa=None):
    scores = {"mini_shr": BenchmarkScore(shr), "mini_shr_correct": BenchmarkScore(correct),
              "mini_shr_hallucinated": BenchmarkScore(hallucinated),
              **({"mini_gqa": BenchmarkScore(gqa)} if gqa is not None else {})}
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
    """mini-LLaVA-S at 30% (base mini-GQA 30), 100% (50) and 300% (60); ASPO 1, 2 and 3 points of mini-SHR under
    DPO on the same seeds (seed 0 of the 30% level missing); nothing for the other families."""
    root = tmp_path / "results"
    for level, gqa, gain, auc in (("mini-llava-s-sft30", 30.0, -1.0, 0.6), ("mini-llava-s", 50.0, -2.0, 0.7),
                                  ("mini-llava-s-sft300", 60.0, -3.0, 0.8)):
        save(root, level, "base", 0, 75.0, correct=0.5 if level.endswith("sft30") else 1.2, gqa=gqa)
        diagnosis(root, level, auc)
        for seed, dpo in ((0, 60.0), (1, 70.0), (2, 65.0)):
            save(root, level, "dpo", seed, dpo)
            if not (level.endswith("sft30") and seed == 0):
                save(root, level, "aspo", seed, dpo + gain, hallucinated=3.0 + gain / 10)
    paths = render_table("base-quality", "mini", root, tmp_path / "tables")
    return paths, (tmp_path / "tables" / "base-quality.md").read_text()


def test_it_writes_the_figure_and_its_numbers(rendered):
    paths, markdown = rendered
    assert sorted(p.name for p in paths) == ["base-quality.md", "base-quality.pdf", "base-quality.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "Provenance: 20 run(s)" in markdown


def test_each_level_shows_its_base_scores_its_auc_and_its_gain_paired_by_seed(rendered):
    rows = rows_of(rendered[1])
    weakest, whole, strongest = rows["mini-LLaVA-S, SFT 30%"], rows["mini-LLaVA-S"], rows["mini-LLaVA-S, SFT 300%"]
    assert weakest[1:6] == ["30%", "30.00", "75.00", "0.500", "3.000"]
    assert whole[1:3] == ["100%", "50.00"] and strongest[1:3] == ["300%", "60.00"]
    assert weakest[6:9] == ["0.60 [0.58, 0.62]", "preference diagnosis (S+P weights, 300 answers)", "n=2"]
    assert weakest[9] == "-1.00 ± 0.00*" and whole[9] == "-2.00 ± 0.00*" and strongest[9] == "-3.00 ± 0.00*"
    assert strongest[11] == "-0.300 ± 0.000*" and strongest[10] == "+0.000 ± 0.000"


def test_a_level_without_results_is_missing_not_invented(rendered):
    markdown = rendered[1]
    rows = rows_of(markdown)
    assert rows["mini-InstructBLIP, SFT 30%"][2:] == ["—"] * 4 + ["—", "no preference data yet", "—", "—", "—", "—"]
    assert "Missing (no result yet): mini-LLaVA-M, SFT 30%;" in markdown
