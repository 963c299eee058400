"""The weight-quality figure (issue 31): its spec, the runs it plans, and the numbers it plots, from
hand-made eval.json files: each row's AUC from the right source and its difference to DPO paired by seed."""

from __future__ import annotations

import json
import shutil

import pytest

from aspo_repro.errors import UserError
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey, diagnosis_path
from aspo_repro.tables import build_table_grid, catalog, render_table, rendering_inputs
from aspo_repro.tables.catalog import SPEC_DIR
from aspo_repro.tables.specs import load_spec
from aspo_repro.tables.table_file import WeightQualityFile

MODEL = "mini-llava-s"
FAMILY = ["aspo-oracle", "aspo-oracle[verdict_flip=0.15]", "aspo-oracle[verdict_flip=0.3]",
          "aspo-oracle[verdict_flip=0.5]", "aspo-oracle[verdict_flip=0.7]"]
MARKERS = ["aspo-s", "aspo-s[scorer=judge-trained]", "aspo-p", "aspo"]


def test_the_spec_reads_as_a_study_of_the_mini_profile():
    spec = load_spec("weight-quality", "mini")
    assert isinstance(spec.file, WeightQualityFile) and not spec.file.in_paper
    assert "weight-quality" in catalog.known_names() and "weight-quality" not in catalog.paper_names()
    assert [row.method for row in spec.file.rows] == FAMILY + MARKERS
    assert [row.role for row in spec.file.rows] == ["family"] * 5 + ["marker"] * 4
    assert spec.file.versus == "dpo" and spec.file.panels == ("mini_shr", "mini_shr_correct", "mini_shr_hallucinated")
    with pytest.raises(UserError, match="no `profiles: paper:` section"):
        load_spec("weight-quality", "paper")


@pytest.mark.parametrize(("written", "instead", "message"), [
    ("versus: dpo\n", "versus: dpo\ncolour: red\n", r"unknown key\(s\) colour; allowed: figure, title, versus"),
    ("role: marker}", "rol: marker}", r"key rows: unknown key\(s\) rol; allowed: method, label, role"),
    ("role: marker}", "role: highlight}", "unknown row role 'highlight'; known row roles: family, marker"),
    ("verdict_flip=0.15]", "verdict_flop=0.15]", "unknown method option"),
    ("mini_shr_correct,", "mini_shr_right,", "unknown mini-profile benchmark 'mini_shr_right'"),
    ('{method: aspo-p, label: "ASPO-P"', '{method: aspo-s, label: "ASPO-P"', "aspo-s named more than once"),
])
def test_a_fault_in_the_file_is_named(tmp_path, written, instead, message):
    shutil.copytree(SPEC_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "weight_quality.yaml"
    assert written in path.read_text()
    path.write_text(path.read_text().replace(written, instead, 1))
    with pytest.raises(UserError, match=message) as error:
        load_spec("weight-quality", "mini", spec_dir=tmp_path)
    assert str(error.value).startswith(str(path))


def test_reproduce_plans_dpo_and_every_row_on_each_seed():
    from aspo_repro.orchestration import load_profile, plan_tables
    from aspo_repro.orchestration.step_kinds import TRAIN

    plan = plan_tables(["weight-quality"], load_profile("mini"), seeds=3)
    trained = {(step.run.model, step.run.method, step.run.seed) for step in plan.of_kind(TRAIN)}
    assert trained == {(MODEL, method, seed) for method in ["dpo", *FAMILY, *MARKERS] for seed in range(3)}
    assert plan.steps[-1].key == ("render", "weight-quality")
    with pytest.raises(UserError, match="known models: mini-llava-s"):
        load_spec("weight-quality", "mini").runs_needed(models=["mini-llava-m"])


# ---------------------------------------------------------------- rendering from hand-made results
DPO_SHR = {0: 70.0, 1: 80.0, 2: 66.0}


def save(root, method, seed, shr, correct=1.0, hallucinated=3.0, auc=None):
    extra = {"training": {"similarity": {"source": "data", "auc_within_answers": auc}}} if auc else {}
    scores = {"mini_shr": BenchmarkScore(shr), "mini_shr_correct": BenchmarkScore(correct),
              "mini_shr_hallucinated": BenchmarkScore(hallucinated)}
    EvalResult(RunKey("mini", MODEL, method, seed), scores, {"test": True}, extra).save_to(root)


def diagnosis(root, similarity_scorer=None):
    weights = {name: {"auc_within_answer": {"value": value, "ci95": [value - 0.02, value + 0.02], "answers": 500}}
               for name, value in (("aspo-s", 0.84), ("aspo-p", 0.70), ("aspo", 0.77))}
    record = {"weights": weights, **({"similarity": similarity_scorer} if similarity_scorer else {})}
    path = diagnosis_path(root, "mini", MODEL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def rows_of(markdown: str) -> dict[str, list[str]]:
    """The Markdown table's cells by the row's method."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 3 and cells[2].startswith("`"):
            rows[cells[2].strip("`")] = cells
    return rows


@pytest.fixture
def rendered(tmp_path):
    """DPO on seeds 0-2; the exact oracle 1 point of mini-SHR under DPO on seeds 1 and 2 only (seed 0 missing),
    so only pairing by seed id gives -1 (unpaired means would give 69 - 72 = -3)."""
    root = tmp_path / "results"
    for seed, shr in DPO_SHR.items():
        save(root, "dpo", seed, shr)
        save(root, "aspo-s", seed, shr - 2, auc={"value": 0.80 + 0.01 * seed, "ci95": [0.78, 0.83 + 0.01 * seed],
                                                  "answers": 544})
        save(root, "aspo-s[scorer=judge-trained]", seed, shr + 1)
        save(root, "aspo-p", seed, shr - 0.5, correct=1.1)
        save(root, "aspo", seed, shr)
        save(root, "aspo-oracle[verdict_flip=0.3]", seed, shr + 0.25,
             auc={"value": 0.71, "ci95": [0.68, 0.74], "answers": 544})
    for seed in (1, 2):
        save(root, "aspo-oracle", seed, DPO_SHR[seed] - 1, correct=1.2, hallucinated=2.9)
    diagnosis(root)
    paths = render_table("weight-quality", "mini", root, tmp_path / "tables")
    return root, paths, (tmp_path / "tables" / "weight-quality.md").read_text()


def test_it_writes_the_figure_and_its_numbers(rendered):
    _, paths, markdown = rendered
    assert sorted(p.name for p in paths) == ["weight-quality.md", "weight-quality.pdf", "weight-quality.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "Provenance: 20 run(s)" in markdown


def test_the_difference_to_dpo_is_paired_by_seed(rendered):
    rows = rows_of(rendered[2])
    oracle = rows["aspo-oracle"]
    assert oracle[3] == "n=2"
    assert oracle[6:9] == ["-1.00 ± 0.00*", "+0.200 ± 0.000*", "-0.100 ± 0.000*"]
    assert rows["aspo-s"][6] == "-2.00 ± 0.00*" and rows["aspo-s[scorer=judge-trained]"][6] == "+1.00 ± 0.00*"
    assert rows["aspo"][6] == "+0.00 ± 0.00" and rows["dpo"][6] == "0.00 (reference)"


def test_each_auc_comes_from_its_source(rendered):
    """Training records before the diagnosis (aspo-s: 0.81, not the diagnosis' 0.84); the diagnosis by weight
    label where no run recorded one (ASPO-P, ASPO-S+P); never the data's S for another scorer (captions); 1 by
    construction for the exact verdicts only (flip 0)."""
    rows = rows_of(rendered[2])
    assert rows["aspo-s"][4:6] == ["0.81 [0.78, 0.85]", "training records (mean over 3 seed(s), 544 answers)"]
    assert rows["aspo-p"][4:6] == ["0.70 [0.68, 0.72]", "preference diagnosis (P weights, 500 answers)"]
    assert rows["aspo"][4] == "0.77 [0.75, 0.79]"
    assert rows["aspo-s[scorer=judge-trained]"][4:6] == ["—", "no training record of it"]
    assert rows["aspo-oracle"][4:6] == ["1.00", "by construction (the judge's exact verdicts)"]
    assert rows["aspo-oracle[verdict_flip=0.3]"][4] == "0.71 [0.68, 0.74]"


def test_a_diagnosis_of_another_scorer_gives_no_similarity_auc(tmp_path):
    root = tmp_path / "results"
    for seed, shr in DPO_SHR.items():
        save(root, "dpo", seed, shr)
        save(root, "aspo-s", seed, shr)
        save(root, "aspo-p", seed, shr)
    diagnosis(root, similarity_scorer="captions scorer")
    render_table("weight-quality", "mini", root, tmp_path / "tables")
    rows = rows_of((tmp_path / "tables" / "weight-quality.md").read_text())
    assert rows["aspo-s"][4] == "—" and rows["aspo-p"][4] == "0.70 [0.68, 0.72]"


def test_a_row_without_results_is_missing_not_invented(rendered):
    markdown = rendered[2]
    rows = rows_of(markdown)
    for method in ("aspo-oracle[verdict_flip=0.15]", "aspo-oracle[verdict_flip=0.5]", "aspo-oracle[verdict_flip=0.7]"):
        assert rows[method][3:] == ["—", "—", "no result yet", "—", "—", "—"]
    assert ("Missing (no result yet): verdicts, flip 0.15; verdicts, flip 0.5 (random); verdicts, flip 0.7 (inverted)."
            in markdown)


def described(rng, hallucinated_share: float) -> dict:
    """mini-SHR's items: per description, (hallucinated sentences, sentences)."""
    sentences = rng.integers(2, 6, size=40)
    return {"mini_shr": [[float(rng.binomial(n, hallucinated_share)), float(n)] for n in sentences]}


def test_the_difference_is_table_5s_vs_dpo_cell(tmp_path):
    """Runs that keep their items give the interval of Table 5's "vs DPO" cell of the oracle: seeds paired by
    id and items through the shared bootstrap draws, one interval code for both."""
    import numpy as np

    root, rng = tmp_path / "results", np.random.default_rng(7)
    save(root, "base", 0, 71.0)  # Table 5 reads the base model too
    for seed, shr in DPO_SHR.items():
        for method, value, share in (("dpo", shr, 0.7), ("aspo-oracle", shr - 1 - seed, 0.6)):
            items = described(rng, share)
            EvalResult(RunKey("mini", MODEL, method, seed), {"mini_shr": BenchmarkScore(value, items=items)},
                       {"test": True}).save_to(root)
    grid = build_table_grid(rendering_inputs(load_spec(5, "mini"), root))
    row = next(i for i, r in enumerate(grid.rows) if r.model == MODEL and r.method == "aspo-oracle")
    column = next(j for j, c in enumerate(grid.columns) if c.benchmark == "mini_shr")
    table5 = grid.cells[row, column].versus
    assert table5.sources == "seeds+items" and table5.mean == pytest.approx(-2.0)
    render_table("weight-quality", "mini", root, tmp_path / "tables")
    shown = rows_of((tmp_path / "tables" / "weight-quality.md").read_text())["aspo-oracle"][6]
    assert shown == f"{table5.mean:+.2f} ± {table5.half_width:.2f}" + ("*" if table5.excludes_zero else "")


def test_the_committed_results_place_each_noisy_oracle_at_one_minus_its_flip(tmp_path):
    """The committed runs measured their own weights: a noisy oracle's AUC lies near 1 - verdict_flip."""
    from aspo_repro.repository import REPO_ROOT

    render_table("weight-quality", "mini", REPO_ROOT / "results", tmp_path)
    rows = rows_of((tmp_path / "weight-quality.md").read_text())
    assert all(cells[3] == "n=3" for cells in rows.values())
    for flip in (0.15, 0.3, 0.5, 0.7):
        cells = rows[f"aspo-oracle[verdict_flip={flip}]"]
        assert abs(float(cells[4].split()[0]) - (1 - flip)) < 0.05 and cells[5].startswith("training records")
