"""The benchmark registry: names, sets, and the lmms-eval tasks behind each paper column."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation import benchmarks
from aspo_repro.results import BENCHMARKS


def test_every_result_store_benchmark_is_registered_in_its_profile():
    for profile, names in BENCHMARKS.items():
        assert [b.name for b in benchmarks.select(profile)] == list(names)
        assert all(b.profile == profile for b in benchmarks.select(profile))


def test_paper_columns_map_to_the_lmms_eval_tasks_of_the_design():
    tasks = {b.name: b.tasks for b in benchmarks.select("paper")}
    assert tasks["pope"] == ("pope_random", "pope_pop", "pope_adv")
    assert tasks["mmbench_dev"] == ("mmbench_en_dev",) and tasks["mmbench_cn"] == ("mmbench_cn_dev",)
    assert tasks["seed_image"] == ("seedbench",) and tasks["sqa_img"] == ("scienceqa_img",)
    assert tasks["llava_wild"] == ("llava_in_the_wild",) and tasks["shr"] == ("shr",)
    needs_key = {b.name for b in benchmarks.select("paper") if b.needs_api_key}
    assert needs_key == {"mmvet", "llava_wild", "shr", "mmbench_dev", "mmbench_cn"}
    assert [b.name for b in benchmarks.select("paper") if b.submission] == ["mmbench_test"]


def test_selection_by_names_keeps_order_and_drops_duplicates():
    chosen = benchmarks.select("mini_gqa, mini_pope,mini_gqa")
    assert [b.name for b in chosen] == ["mini_gqa", "mini_pope"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError) as error:
        benchmarks.select("mini_pope,mmvett")
    message = str(error.value)
    assert "unknown benchmark 'mmvett'" in message
    for name in ("mini", "paper", "mmvet", "pope", "mini_mmb", "shr"):
        assert name in message


def test_profiles_do_not_mix():
    with pytest.raises(UserError, match="cannot be mixed"):
        benchmarks.select("mini_pope,pope")


def test_a_benchmark_is_stated_once_and_read_everywhere():
    """Label, direction and analogue live on the registry entry; results and tables ask it."""
    from aspo_repro.results import check_benchmark, higher_is_better
    from aspo_repro.tables.specs import benchmark_label

    shr, mini_shr = benchmarks.get_benchmark("shr"), benchmarks.get_benchmark("mini_shr")
    assert shr.lower_is_better and not higher_is_better("mini_shr") and higher_is_better("pope")
    assert benchmark_label("mini_shr") == "mini-SHR↓" and benchmark_label("mmbench_dev") == "MMB-dev"
    # every mini benchmark stands for a paper benchmark, but the counts reported beside mini-SHR
    assert mini_shr.analogue_of == "shr" and all(
        b.analogue_of in BENCHMARKS["paper"] for b in benchmarks.select("mini") if b.reported_with is None
    )
    companions = [b for b in benchmarks.select("mini") if b.reported_with]
    assert {b.name for b in companions} == {"mini_shr_correct", "mini_shr_hallucinated"}
    assert all(b.reported_with == "mini_shr" and not b.in_average and b.analogue_of is None for b in companions)
    with pytest.raises(UserError, match="unknown benchmark 'mme'"):
        higher_is_better("mme")
    assert check_benchmark("paper", "pope") == "pope"


def test_a_new_benchmark_is_one_registry_entry(monkeypatch):
    from aspo_repro.results import BenchmarkScore, EvalResult, RunKey, check_benchmark
    from aspo_repro.tables.specs import benchmark_column, benchmark_label

    count = benchmarks.Benchmark("mini_count", "mini", "mini-Count", ("mini_count",), "exact_match", 100.0,
                                 "mini-Count: how many objects", analogue_of="gqa", own_task=True,
                                 data_file="mini_count.jsonl")
    monkeypatch.setitem(benchmarks.REGISTRY, "mini_count", count)
    assert check_benchmark("mini", "mini_count") == "mini_count"
    assert benchmarks.select("mini_count") == (count,)
    assert benchmark_label("mini_count") == "mini-Count"
    assert benchmark_column("mini_count", "mini").published == "gqa"
    EvalResult(RunKey("mini", "mini-llava-s", "base"), {"mini_count": BenchmarkScore(50.0)})


def test_the_mini_world_writes_every_mini_benchmarks_file():
    """The world's own list (part of its cache key, so not derived from here) must agree."""
    from aspo_repro.miniworld import data

    assert {f"{name}.jsonl" for name in data.BENCHMARKS} == {b.data_file for b in benchmarks.select("mini")}
