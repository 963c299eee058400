import shutil

import pytest

from aspo_repro.errors import UserError
from aspo_repro.results import RunKey
from aspo_repro.tables import load_published, load_spec, runs_needed, tables_on_profiles
from aspo_repro.tables.catalog import SPEC_DIR
from aspo_repro.tables.published import published_row
from aspo_repro.tables.specs import TableSpec

MINI_MODELS = ["mini-instructblip", "mini-llava-s", "mini-llava-m"]


def test_table1_mini_needs_every_mini_model_with_base_dpo_and_aspo():
    runs = runs_needed(1, "mini")
    assert runs == [RunKey("mini", model, method, 0) for model in MINI_MODELS for method in ("base", "dpo", "aspo")]


def test_table1_with_each_scorer_needs_table1s_runs_and_aspo_by_the_judge_trained_scorer():
    runs = runs_needed("1-scorers", "mini")
    assert runs == [RunKey("mini", model, method, 0) for model in MINI_MODELS
                    for method in ("base", "dpo", "aspo", "aspo[scorer=judge-trained]")]
    assert set(runs_needed(1, "mini")) < set(runs)
    with pytest.raises(UserError, match="no `profiles: paper:` section"):
        runs_needed("1-scorers", "paper")


def test_seeds_multiply_the_trained_runs_and_start_at_zero():
    runs = runs_needed("1", "mini", seeds=3)
    assert len(runs) == 3 * (1 + 3 * 2) and {run.seed for run in runs} == {0, 1, 2}
    # the base model is not trained: one evaluation serves every seed
    assert {run.seed for run in runs if run.method == "base"} == {0}


def test_models_restrict_the_runs():
    runs = runs_needed(1, "paper", models=["llava-1.5-13b"])
    assert [(r.model, r.method) for r in runs] == [("llava-1.5-13b", m) for m in ("base", "dpo", "aspo")]


def test_each_table_needs_its_rows():
    def methods(table, profile):
        return [run.method for run in runs_needed(table, profile)]

    assert methods(2, "paper") == ["base", "aspo"]
    assert methods(5, "paper") == ["base", "dpo", "aspo-s", "aspo-p", "aspo"]
    assert methods(5, "mini") == ["base", "dpo", "aspo-s", "aspo-s[scorer=judge-trained]", "aspo-p",
                                  "aspo", "aspo[scorer=judge-trained]", "aspo-oracle"]
    assert "aspo-oracle" not in methods(5, "paper")  # the exact judge exists in the mini world only
    assert methods(6, "paper") == ["dpo", "aspo-response", "aspo", "aspo-token"]
    # the mini profile reads every cell against its own base model, so Table 6 needs base too
    assert methods(6, "mini") == ["base", "dpo", "aspo-response", "aspo", "aspo-token"]
    assert methods("figure3", "mini") == ["aspo-p", "aspo[alpha=0.25]", "aspo", "aspo[alpha=0.75]", "aspo-s"]
    assert {run.model for run in runs_needed("figure3", "mini")} == {"mini-llava-s"}
    assert {run.model for run in runs_needed("fig3", "paper")} == {"llava-1.5-7b"}


def test_published_only_rows_are_shown_but_never_run():
    table1 = load_spec(1, "paper")
    assert sum(r.runnable for r in table1.rows) == 9 and sum(not r.runnable for r in table1.rows) == 9
    table2 = load_spec(2, "mini")
    assert sum(r.runnable for r in table2.rows) == 2 and sum(not r.runnable for r in table2.rows) == 11
    assert all(r.runnable for r in load_spec(1, "mini").rows)


@pytest.mark.parametrize(("table", "profile"), tables_on_profiles())
def test_every_row_of_every_spec_points_at_published_numbers(table, profile):
    spec = load_spec(table, profile)
    assert isinstance(spec, TableSpec)
    published = load_published()
    for row in spec.rows:
        if row.published is None:  # a row of the mini world only (the oracle): nothing to compare with
            assert profile == "mini" and row.method == "aspo-oracle"
            continue
        assert published_row(published, row.published), f"no published row {row.published}"
        assert published_row(published, row.published_base), f"no published base row {row.published_base}"
    for column in spec.columns:
        assert column.published in {None, *published["benchmark"]}


def test_mini_columns_are_the_analogues():
    spec = load_spec(1, "mini")
    assert [(c.benchmark, c.published) for c in spec.columns] == [
        ("mini_pope", "pope"), ("mini_shr", "shr"), ("mini_shr_correct", None), ("mini_shr_hallucinated", None),
        ("mini_gqa", "gqa"), ("mini_mmb", "mmbench_dev"),
    ]
    assert spec.analogue_labels == {
        "mini-InstructBLIP": "InstructBLIP-13B", "mini-LLaVA-S": "LLaVA-1.5-7B", "mini-LLaVA-M": "LLaVA-1.5-13B",
    }


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: runs_needed(3, "mini"), "unknown table '3'; known tables: 1, 1-scorers, 2, 5, 6, base-quality, figure3"),
        (lambda: runs_needed(1, "gpu"), "unknown profile 'gpu'; known profiles: mini, paper"),
        (lambda: runs_needed(1, "mini", models=["llava-1.5-7b"]),
         "unknown model 'llava-1.5-7b' for table1 on the mini profile; known models: mini-instructblip, mini-llava-s, mini-llava-m"),
        (lambda: runs_needed(1, "mini", seeds=0), "seeds must be a positive integer"),
    ],
)
def test_bad_input_lists_what_is_known(call, message):
    with pytest.raises(UserError) as error:
        call()
    assert message in str(error.value)


@pytest.mark.parametrize(("written", "instead", "profile", "message"), [
    ("mini_gqa, mini_mmb]", "mini_vqa, mini_mmb]", "mini", r"table5.yaml: unknown mini-profile benchmark 'mini_vqa'"),
    ("method: aspo-s,", "method: aspo-x,", "paper", "unknown method 'aspo-x'"),
    ("average: true", "averge: true", "paper", r"table5.yaml: unknown key\(s\) averge; allowed: .*average"),
    ("models: [mini-llava-s]", "models: [llava-1.5-7b]", "mini",
     "model 'llava-1.5-7b' is a paper-profile model; the mini profile's models are"),
])
def test_a_broken_spec_file_is_a_clear_error(tmp_path, written, instead, profile, message):
    shutil.copytree(SPEC_DIR, tmp_path, dirs_exist_ok=True)
    spec = tmp_path / "table5.yaml"
    original = spec.read_text()
    assert written in original
    spec.write_text(original.replace(written, instead))
    with pytest.raises(UserError, match=message):
        load_spec(5, profile, spec_dir=tmp_path)


def test_a_table_is_its_file(tmp_path):
    """A new YAML file is a new table: known by name and alias, its labels from the registries."""
    shutil.copytree(SPEC_DIR, tmp_path, dirs_exist_ok=True)
    text = (tmp_path / "table5.yaml").read_text().replace('table: "5"', 'table: "7"')
    (tmp_path / "table7.yaml").write_text(text.replace('published_table: "5"', 'published_table: "5"\nbase_table: "5"'))
    from aspo_repro.tables import catalog

    assert catalog.known_names(tmp_path) == ("1", "1-scorers", "2", "5", "6", "7", "base-quality", "figure3", "lr-sweep",
                                              "weight-quality")
    assert catalog.paper_names(tmp_path) == ("1", "2", "5", "6", "7", "figure3")
    assert catalog.find("table7", tmp_path).name == "7" and catalog.find("fig3", tmp_path).name == "figure3"
    spec = load_spec("7", "mini", spec_dir=tmp_path)
    assert spec.rows[0].model_label == "mini-LLaVA-S" and spec.analogue_labels == {"mini-LLaVA-S": "LLaVA-1.5-7B"}
    assert [column.label for column in spec.columns] == ["mini-POPE", "mini-SHR↓", "correct/img", "halluc./img↓",
                                                         "mini-GQA", "mini-MMB"]


def test_a_fault_in_a_sweep_file_names_the_file_once(tmp_path):
    shutil.copytree(SPEC_DIR, tmp_path, dirs_exist_ok=True)
    sweep = tmp_path / "lr_sweep.yaml"
    sweep.write_text(sweep.read_text().replace("models: [mini-llava-s,", "models: [llava-1.5-7b,"))
    with pytest.raises(UserError) as error:
        load_spec("lr-sweep", "mini", spec_dir=tmp_path)
    assert str(error.value) == (f"{sweep}: model 'llava-1.5-7b' is a paper-profile model; the mini profile's models "
                                "are mini-llava-s, mini-llava-m, mini-instructblip")
