"""Every kind of bad input a user can give, as a table: each is exit status 2 and one line that
names the file (and the row) and says what is allowed; no traceback, nothing written.

The damaged files are corrupted copies of real ones (``conftest.py``). ``prefs show`` and ``train``
read a preference directory through one reader, so each fault gets the same line from both.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from corruptions import (
    ARROW,
    SMOKE_RESULTS,
    assert_one_line_error,
    copy_tree,
    damage,
    drop_column,
    first_image,
    first_image_bytes,
    image_path_only,
    images_as_strings,
    no_rows,
    rebuild,
    replace_bytes,
    rewrite_arrow,
    run_main,
    set_first,
    train_args,
    truncate,
)


def truncated_png(source: Path, target: Path) -> Path:
    target.write_bytes(first_image_bytes(source)[:60])
    return target


def _arrow_text_not_utf8(directory: Path) -> None:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.BufferReader((directory / ARROW).read_bytes())).read_all()
    chosen = table.column("chosen")[0].as_py()
    replace_bytes(directory / ARROW, chosen[:6].encode(), b"\xff" + chosen[1:6].encode())


# (name, make(source, directory) -> directory, what the line must say)
PREFERENCE_FAULTS = [
    ("missing rejected column", lambda s, d: rebuild(s, d, drop_column("rejected")), "missing column(s) rejected"),
    ("chosen is None", lambda s, d: rebuild(s, d, set_first("chosen", None)), "chosen must be a string"),
    ("prompt is None", lambda s, d: rebuild(s, d, set_first("prompt", None)), "prompt must be a string"),
    ("corrupt image bytes", lambda s, d: rebuild(s, d, first_image({"bytes": b"not a png at all", "path": None})),
     "the image cannot be read (not an image file)"),
    ("truncated image bytes",
     lambda s, d: rebuild(s, d, first_image({"bytes": first_image_bytes(s)[:60], "path": None})),
     "the image cannot be read (image file is truncated)"),
    # Found by the fuzz (test_fuzz.py, image seed 65): PIL raises SyntaxError for this broken PNG chunk.
    ("PNG with a broken chunk",
     lambda s, d: rebuild(s, d, first_image({"bytes": damage(first_image_bytes(s), random.Random("image-65")),
                                             "path": None})),
     "the image cannot be read (broken PNG file"),
    ("zero-byte image", lambda s, d: rebuild(s, d, first_image({"bytes": b"", "path": None})), "the image is empty"),
    ("truncated image file",
     lambda s, d: rebuild(s, d, first_image({"bytes": None, "path": str(truncated_png(s, d.parent / "cut.png"))})),
     "image file is truncated"),
    ("missing image file", lambda s, d: _then(copy_tree(s, d), rewrite_arrow, image_path_only(str(d / "gone.png"))),
     "gone.png does not exist"),
    ("image stored as a string", lambda s, d: rebuild(s, d, images_as_strings),
     "column images must be a list of datasets.Image"),
    ("text not UTF-8", lambda s, d: _then(copy_tree(s, d), _arrow_text_not_utf8), "column chosen is not UTF-8 text"),
    ("truncated Arrow file", lambda s, d: _then(copy_tree(s, d), lambda d: truncate(d / ARROW)), "files are damaged"),
    ("empty dataset", lambda s, d: rebuild(s, d, no_rows), "holds no preference pairs"),
    ("manifest not UTF-8", lambda s, d: _then(copy_tree(s, d), lambda d: (d / "manifest.json").write_bytes(b'{"a": "\xff"}')),
     "manifest.json is not UTF-8 text"),
    ("manifest truncated", lambda s, d: _then(copy_tree(s, d), lambda d: truncate(d / "manifest.json")),
     "manifest.json is not valid JSON"),
    ("manifest a list", lambda s, d: _then(copy_tree(s, d), lambda d: (d / "manifest.json").write_text("[1, 2]")),
     "must hold a JSON object, not a list"),
    ("state.json damaged", lambda s, d: _then(copy_tree(s, d), lambda d: truncate(d / "state.json")),
     "files are damaged"),
]


def _then(directory: Path, change, *args) -> Path:
    change(directory, *args)
    return directory


@pytest.fixture(params=PREFERENCE_FAULTS, ids=[case[0] for case in PREFERENCE_FAULTS])
def damaged_prefs(request, real_prefs, tmp_path):
    name, make, expected = request.param
    return make(real_prefs, tmp_path / "prefs"), expected


def test_prefs_show_names_the_fault(damaged_prefs):
    directory, expected = damaged_prefs
    line = assert_one_line_error(run_main(["prefs", "show", str(directory), "--index", "0"]), directory)
    assert expected in line


def test_train_gives_the_same_line_and_writes_nothing(damaged_prefs, model_dir, tmp_path):
    directory, expected = damaged_prefs
    out = tmp_path / "run"
    shown = run_main(["prefs", "show", str(directory), "--index", "0"]).error_lines
    line = assert_one_line_error(run_main(train_args(model_dir, directory, out)), directory)
    assert expected in line
    assert [line] == shown
    assert not out.exists()


def test_a_bad_row_is_named_by_number_and_id(real_prefs, tmp_path):
    directory = rebuild(real_prefs, tmp_path / "prefs", set_first("chosen", None))
    line = assert_one_line_error(run_main(["prefs", "show", str(directory)]), directory)
    assert "row 0 (id 'rec" in line


def test_show_of_a_good_row_beside_a_bad_one_still_works(real_prefs, tmp_path):
    directory = rebuild(real_prefs, tmp_path / "prefs", set_first("chosen", None))
    outcome = run_main(["prefs", "show", str(directory), "--index", "1"])
    assert outcome.code == 0 and "pair 1 of" in outcome.out


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu0", "cuda:7"])
def test_evaluate_refuses_an_unknown_or_absent_device_before_any_work(device, model_dir, tmp_path):
    out = tmp_path / "eval.json"
    outcome = run_main(["evaluate", "--model-dir", str(model_dir), "--benchmarks", "mini", "--out", str(out),
                        "--device", device, "--cache-dir", str(tmp_path / "cache")])
    line = assert_one_line_error(outcome, repr(device))
    assert "cpu" in line  # says what is allowed
    assert not out.exists() and not (tmp_path / "cache").exists()  # no world built for a bad flag


# ------------------------------------------------------------------ regression files
REGRESSION_FAULTS = [
    ("missing", None, "does not exist"),
    ("a list", "- 0.5\n- 1\n", "must hold a mapping of keys to values, not a list"),
    ("floor a list", "floor: [0.5]\n", "key floor must be a mapping"),
    ("unknown key", "tolerance: {default: 0.5}\n",
     "unknown key(s) tolerance; allowed: false_alarm_rate, power, primary, floor, secondary_rate"),
    ("primary not a list", "primary: 3\n", "key primary must be a list"),
    ("primary check incomplete", "primary: [{method: aspo}]\n", "missing key(s) versus, benchmarks"),
    ("primary check on no benchmark", "primary: [{method: aspo, versus: dpo, benchmarks: [mini_nope]}]\n",
     "unknown benchmark 'mini_nope'"),
    ("unknown benchmark", "floor: {mini_pop: 0.5}\n", "unknown benchmark 'mini_pop'"),
    ("not a number", "floor: {default: lots}\n", "must be a number"),
    ("negative", "floor: {default: -1}\n", "non-negative"),
    ("rate out of range", "false_alarm_rate: 1.5\n", "false_alarm_rate must lie in (0, 1)"),
    ("not YAML", "floor: {default: [\n", "is not valid YAML"),
    ("not UTF-8", b"floor: {default: \xff}\n", "is not UTF-8 text"),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in REGRESSION_FAULTS],
                         ids=[case[0] for case in REGRESSION_FAULTS])
def test_regress_names_a_bad_regression_file(text, expected, smoke_results, tmp_path):
    path = tmp_path / "regression.yaml"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    outcome = run_main(["regress", "--reference", str(smoke_results), "--candidate", str(smoke_results),
                        "--settings", str(path)])
    assert expected in assert_one_line_error(outcome, path)


# ------------------------------------------------------------------ profile files
PROFILE_FAULTS = [
    ("misspelt section", "results_profile: mini\ntrian: {seed: 1}\n", "unknown key(s) trian; allowed: results_profile"),
    ("misspelt stage key", "results_profile: mini\nprefs: {limt: 3}\n", "key prefs: unknown key(s) limt; allowed:"),
    ("wrong type", "results_profile: mini\nprefs: {limit: many}\n", "key prefs, key limit must be a whole number"),
    ("unknown training override", "results_profile: mini\ntrain: {overrides: {learnin_rate: 1}}\n",
     "unknown training setting(s): learnin_rate"),
    ("a rate YAML reads as text", "results_profile: mini\ntrain: {overrides: {learning_rate: 2e-4}}\n",
     "learning_rate must be a positive number; got '2e-4' (YAML reads 2e-4 as text: write 2.0e-4)"),
    ("a key each job sets", "results_profile: mini\nprefs: {model: mini-llava-s}\n",
     "key prefs: model cannot be set here (each job sets it); allowed: instructions"),
    ("unknown benchmark", "results_profile: mini\nevaluate: {benchmarks: mini_pop}\n", "mini_pop"),
    ("unknown training config", "results_profile: mini\ntrain: {config: cpuu}\n", "cpuu"),
    ("unknown results profile", "results_profile: maxi\n", "results_profile must be one of paper, mini"),
    ("missing results profile", "prefs: {limit: 3}\n", "missing key(s) results_profile"),
    ("a list", "- mini\n", "must hold a mapping"),
    ("not UTF-8", b"results_profile: \xffmini\n", "is not UTF-8 text"),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in PROFILE_FAULTS],
                         ids=[case[0] for case in PROFILE_FAULTS])
def test_reproduce_names_a_bad_profile_key(text, expected, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    outcome = run_main(["reproduce", "--table", "1", "--profile", str(path), "--dry-run",
                        "--work-dir", str(tmp_path / "work"), "--results", str(tmp_path / "results")])
    assert expected in assert_one_line_error(outcome, path)
    assert not (tmp_path / "work").exists()


# ------------------------------------------------------------------ records: damaged means "not done"
RECORD_DAMAGE = {
    "truncated": lambda path: truncate(path, 0.4),
    "a list": lambda path: path.write_text("[]"),
    "not UTF-8": lambda path: path.write_bytes(b"\xff\xfe{}"),
    "empty": lambda path: path.write_bytes(b""),
}


def smoke_dry_run(tmp_path, results: Path) -> list[str]:
    return ["reproduce", "--table", "1", "--profile", "mini-smoke", "--models", "mini-llava-s", "--dry-run",
            "--work-dir", str(tmp_path / "work"), "--results", str(results)]


@pytest.mark.parametrize("how", RECORD_DAMAGE)
def test_a_damaged_run_record_is_reported_and_not_done(how, real_run, tmp_path, smoke_results):
    run_dir = tmp_path / "work" / "mini-llava-s" / "dpo" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_bytes((real_run / "run.json").read_bytes())
    assert "[  done] train dpo on mini-llava-s (seed 0)" in run_main(smoke_dry_run(tmp_path, smoke_results)).out
    RECORD_DAMAGE[how](run_dir / "run.json")
    outcome = run_main(smoke_dry_run(tmp_path, smoke_results))
    assert outcome.exception is None and outcome.code == 0, outcome.err
    warning = [line for line in outcome.out.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(run_dir / "run.json") in warning[0] and "treated as not done" in warning[0]
    assert "[to run] train dpo on mini-llava-s (seed 0)" in outcome.out


@pytest.mark.parametrize("how", RECORD_DAMAGE)
def test_a_damaged_eval_result_is_redone_by_reproduce_and_named_by_tables_and_regress(how, tmp_path, smoke_results):
    path = smoke_results / "mini" / "mini-llava-s" / "dpo" / "seed0" / "eval.json"
    RECORD_DAMAGE[how](path)
    outcome = run_main(smoke_dry_run(tmp_path, smoke_results))
    assert outcome.code == 0 and any(str(path) in line and "not done" in line for line in outcome.out.splitlines())
    assert "[to run] evaluate mini/mini-llava-s/dpo/seed0" in outcome.out
    tables = run_main(["tables", "--table", "1", "--profile", "mini", "--results", str(smoke_results),
                       "--out", str(tmp_path / "tables")])
    assert_one_line_error(tables, path)
    assert not (tmp_path / "tables").exists() or not any((tmp_path / "tables").iterdir())
    regress = run_main(["regress", "--reference", str(SMOKE_RESULTS), "--candidate", str(smoke_results)])
    assert_one_line_error(regress, path)


def test_train_over_a_damaged_run_record_trains_again(real_run, real_prefs, model_dir, tmp_path):
    out = copy_tree(real_run, tmp_path / "run")
    truncate(out / "run.json", 0.3)
    outcome = run_main(train_args(model_dir, real_prefs, out))
    assert outcome.exception is None and outcome.code == 0, outcome.err
    assert any("run.json" in line and "treated as not done" in line for line in outcome.err.splitlines())
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_a_damaged_checkpoint_run_key_restarts_the_run(real_prefs, model_dir, tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (out / "checkpoints" / "run-key.json").write_text('{"run_key": ')
    outcome = run_main(train_args(model_dir, real_prefs, out))
    assert outcome.exception is None and outcome.code == 0, outcome.err
    assert any("run key is damaged" in line for line in outcome.err.splitlines())
    assert json.loads((out / "run.json").read_text())["resumed_from_step"] is None


# ------------------------------------------------------------------ the mini world is never built silently
def test_train_checks_the_data_before_building_a_world_and_says_when_it_builds(monkeypatch, real_prefs, tmp_path):
    import aspo_repro.miniworld.build as build

    built = []
    monkeypatch.setattr(build, "build_world", lambda *a, **k: built.append(a) or (_ for _ in ()).throw(
        KeyboardInterrupt()))
    bad = rebuild(real_prefs, tmp_path / "bad", set_first("chosen", None))
    cache = tmp_path / "cache"
    args = ["train", "--method", "dpo", "--model", "mini-llava-s", "--out", str(tmp_path / "run"),
            "--cache-dir", str(cache), "--world-size", "tiny"]
    assert_one_line_error(run_main([*args, "--prefs", str(bad)]), bad)
    assert not built
    outcome = run_main([*args, "--prefs", str(real_prefs)])
    assert outcome.code == 130 and built  # the (stubbed) build was reached, after this line:
    announcement = [line for line in outcome.err.splitlines() if line.startswith("building the mini world")]
    assert len(announcement) == 1 and str(cache) in announcement[0] and "min cold" in announcement[0]

