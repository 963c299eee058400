import json
from pathlib import Path

import pytest

from aspo_repro.errors import UserError
from aspo_repro.results import (
    BenchmarkScore,
    EvalResult,
    RunKey,
    collect,
    higher_is_better,
    method_from_slug,
    method_options,
    method_slug,
    resolve_method,
)


def mini_result(method="aspo", seed=0, **scores):
    scores = scores or {"mini_pope": 81.25, "mini_shr": 12.5}
    return EvalResult(
        RunKey("mini", "mini-llava-s", method, seed),
        {name: BenchmarkScore(value, stderr=0.5, n=200, metric="f1") for name, value in scores.items()},
        {"git_revision": "abc"},
    )


def test_run_path_is_the_documented_layout(tmp_path):
    run = RunKey("mini", "mini-llava-s", "aspo[alpha=0.25]", 1)
    assert run.eval_path(tmp_path) == tmp_path / "mini" / "mini-llava-s" / "aspo@alpha=0.25" / "seed1" / "eval.json"
    assert RunKey("paper", "llava-1.5-7b", "base").eval_path("r") == Path("r/paper/llava-1.5-7b/base/seed0/eval.json")


@pytest.mark.parametrize("name", ["base", "dpo", "aspo-s", "aspo[alpha=0.25]", "aspo[alpha=0.0,norm=none]"])
def test_method_slug_round_trips(name):
    slug = method_slug(name)
    assert "[" not in slug and "]" not in slug and "," not in slug and "/" not in slug
    assert method_from_slug(slug) == name


@pytest.mark.parametrize("name, expected", [
    ("aspo", ("aspo", {})),
    ("aspo[alpha=0.25]", ("aspo", {"alpha": 0.25})),
    ("aspo[norm=none]", ("aspo", {"norm": "none"})),
    ("aspo[alpha=1,norm=weight_mean]", ("aspo", {"alpha": 1.0, "norm": "weight_mean"})),
])
def test_method_options_are_typed(name, expected):
    """A method name's options are typed as ``get_method`` takes them (``aspo[norm=none]``); that they
    reach a real training through the train step: tests/training/test_reproduce_train_step.py."""
    assert method_options(name) == expected


def test_resolve_method_reads_variant_names():
    assert resolve_method("base") is None
    assert resolve_method("aspo-s").alpha == 1.0
    variant = resolve_method("aspo[alpha=0.25]")
    assert (variant.alpha, variant.granularity, variant.name) == (0.25, "sentence", "aspo[alpha=0.25]")
    assert resolve_method("aspo[clamp_c=False]").clamp_c is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("aspo[alpha=0.5]", "not canonical; the same run is named 'aspo'"),
        ("simpo", "known methods: aspo, aspo-oracle, aspo-p"),
        ("aspo[alpha", "malformed method name"),
        ("aspo[alpha=2.0]", "alpha must lie in [0, 1]"),
        ("aspo[temperature=1]", "unknown method option"),
    ],
)
def test_resolve_method_refuses_bad_names(name, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_method(name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "gpu"}, "known profiles: mini, paper"),
        ({"model": "../escape"}, "model name"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"method": "aspo[alpha=0.25"}, "malformed method name"),
    ],
)
def test_run_key_refuses_bad_fields(kwargs, message):
    fields = {"profile": "mini", "model": "mini-llava-s", "method": "dpo", "seed": 0, **kwargs}
    with pytest.raises(UserError, match=message):
        RunKey(**fields)


def test_scores_are_checked():
    with pytest.raises(UserError, match="0-100 scale"):
        BenchmarkScore(-1.0)
    with pytest.raises(UserError, match="0-100 scale"):
        BenchmarkScore(float("nan"))
    with pytest.raises(UserError, match="stderr"):
        BenchmarkScore(50.0, stderr=-1.0)
    with pytest.raises(UserError, match="known mini-profile benchmarks: mini_gqa"):
        mini_result(pope=85.0)


def test_lower_is_better_is_only_shr():
    assert not higher_is_better("shr") and not higher_is_better("mini_shr")
    assert higher_is_better("pope") and higher_is_better("mini_mmb")


def test_save_then_load_round_trips_and_leaves_no_temporary_files(tmp_path):
    result = mini_result()
    path = result.save_to(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]
    loaded = EvalResult.load(path)
    assert loaded.run == result.run
    assert loaded.scores["mini_pope"] == BenchmarkScore(81.25, 0.5, 200, "f1", None)
    assert loaded.provenance == {"git_revision": "abc"}
    assert json.loads(path.read_text())["schema_version"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a valid eval result"),
        ('{"schema_version": 1, "scores": {}}', "is not a valid eval result .KeyError: 'run'"),
        ('{"schema_version": 7, "run": {}, "scores": {}}', "schema_version must be 1"),
    ],
)
def test_load_refuses_malformed_files_with_their_path(tmp_path, content, message):
    path = tmp_path / "eval.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as error:
        EvalResult.load(path)
    assert str(path) in str(error.value)


def test_load_refuses_out_of_range_scores(tmp_path):
    data = mini_result().to_dict()
    data["scores"]["mini_pope"]["value"] = 181.0
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="0-100 scale"):
        EvalResult.load(path)


def test_load_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(UserError, match="eval result .*nothing.json does not exist"):
        EvalResult.load(tmp_path / "nothing.json")


def test_collect_is_long_form_with_one_row_per_run_and_benchmark(tmp_path):
    mini_result("dpo", 0, mini_pope=80.0, mini_gqa=40.0).save_to(tmp_path)
    mini_result("aspo[alpha=0.25]", 2, mini_pope=82.5).save_to(tmp_path)
    frame = collect(tmp_path, "mini")
    assert list(frame.columns[:7]) == ["profile", "model", "method", "seed", "benchmark", "value", "stderr"]
    rows = sorted(zip(frame["method"], frame["seed"], frame["benchmark"], frame["value"]))
    assert rows == [("aspo[alpha=0.25]", 2, "mini_pope", 82.5), ("dpo", 0, "mini_gqa", 40.0), ("dpo", 0, "mini_pope", 80.0)]
    assert collect(tmp_path, "paper").empty


def test_collect_refuses_a_result_filed_under_another_run(tmp_path):
    path = mini_result("dpo").save_to(tmp_path)
    misplaced = tmp_path / "mini" / "mini-llava-s" / "aspo" / "seed0" / "eval.json"
    misplaced.parent.mkdir(parents=True)
    misplaced.write_text(path.read_text())
    with pytest.raises(UserError, match="belongs elsewhere"):
        collect(tmp_path, "mini")


def test_collect_skips_hidden_half_built_directories(tmp_path):
    path = mini_result("dpo").save_to(tmp_path)
    hidden = tmp_path / "mini" / ".mini-llava-s.x.partial" / "dpo" / "seed0" / "eval.json"
    hidden.parent.mkdir(parents=True)
    hidden.write_text(path.read_text())
    assert set(collect(tmp_path, "mini")["path"]) == {str(path)}


def test_a_relative_score_may_exceed_100_where_its_benchmark_says_so():
    run = RunKey("paper", "llava-1.5-7b", "base")
    assert EvalResult(run, {"llava_wild": BenchmarkScore(113.7)}).scores["llava_wild"].value == 113.7
    with pytest.raises(UserError, match="pope: a score must be a number on the 0-100 scale"):
        EvalResult(run, {"pope": BenchmarkScore(113.7)})


def test_items_are_kept_one_line_per_task_and_read_back(tmp_path):
    """eval.json keeps each question's (numerator, denominator) compactly; damage is named, never a traceback."""
    import json

    from aspo_repro.errors import UserError
    from aspo_repro.results import BenchmarkScore, EvalResult, RunKey

    items = {"mini_pope_random": [[2, 2], [0, 1], [0, 0]], "mini_pope_popular": [[0.5, 1]]}
    run = RunKey("mini", "mini-llava-s", "dpo", 0)
    path = EvalResult(run, {"mini_pope": BenchmarkScore(80.0, items=items)}).save_to(tmp_path)
    saved = json.loads(path.read_text())["scores"]["mini_pope"]["items"]
    assert saved == {"mini_pope_popular": "0.5/1", "mini_pope_random": "2/2 0/1 0/0"}
    assert EvalResult.load(path).scores["mini_pope"].items == items
    data = json.loads(path.read_text())
    data["scores"]["mini_pope"]["items"]["mini_pope_random"] = "2/2 zero/1"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="items of mini_pope_random must be 'numerator/denominator' pairs"):
        EvalResult.load(path)
