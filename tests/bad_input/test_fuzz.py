"""Random damage to every kind of file the tool reads: never a traceback.

Each case corrupts one real file at random (flipped bytes, a truncation, a zeroed or cut run,
inserted junk; ``corruptions.damage``) and runs the commands that read that kind of file. Whatever
the damage, a command either works (the damage was harmless, or a damaged record was reported and
treated as not done) or exits 2 with one line naming the file; nothing escapes as a traceback and a
refused ``train`` writes nothing. Training itself is replaced by a stub (the readers run for real),
so a harmless corruption costs no training.

    ASPO_FUZZ_CASES=200 HF_HUB_OFFLINE=1 python -m pytest tests/bad_input/test_fuzz.py   # per file kind

The default, 60 cases for each of the 10 kinds, is 600 cases; a failure names the seed to rerun.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from corruptions import (
    ARROW,
    Outcome,
    damage,
    first_image,
    first_image_bytes,
    rebuild,
    run_main,
    train_args,
)

CASES = int(os.environ.get("ASPO_FUZZ_CASES", "60"))
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_training(monkeypatch):
    """``train`` reads and checks everything, then stops where training would start."""
    import aspo_repro.training.run as run

    monkeypatch.setattr(run, "_train_prepared", lambda prepared, *args: run.RunOutcome(prepared.out, skipped=False))


def check(outcome: Outcome, damaged: Path, seed: int, allowed=(0, 2)) -> int:
    """The case's exit status, after checking that it is one a user may see."""
    where = f"(seed {seed}, file {damaged})"
    assert outcome.exception is None, f"traceback {where}: {type(outcome.exception).__name__}: {outcome.exception}"
    assert "Traceback" not in outcome.out + outcome.err, where
    assert outcome.code in allowed, f"exit {outcome.code} {where}: {outcome.err}"
    if outcome.code == 2:
        assert len(outcome.error_lines) == 1, f"{where}: {outcome.err}"
        line = outcome.error_lines[0]
        assert str(damaged) in line or str(damaged.parent) in line, f"{where}: the line names no file: {line}"
    return outcome.code


def assert_damage_was_seen(codes: list[int], what: str) -> None:
    """The fuzz means something only if some of its damage was caught (exit 2)."""
    assert 2 in codes, f"none of {len(codes)} damaged {what} was refused: is the damage reaching the reader?"


def damaged_copy(source: Path, target: Path, name: str, rng: random.Random) -> Path:
    shutil.copytree(source, target)
    (target / name).write_bytes(damage((target / name).read_bytes(), rng))
    return target / name


def preference_commands(directory: Path, damaged: Path, seed: int, model_dir: Path, out: Path) -> int:
    shown = check(run_main(["prefs", "show", str(directory), "--index", "0"]), damaged, seed)
    outcome = run_main(train_args(model_dir, directory, out))
    check(outcome, damaged, seed)
    if outcome.code == 2:
        assert not out.exists(), f"seed {seed}: a refused train wrote {out}"
    return max(shown, outcome.code)


@pytest.mark.parametrize("name", [ARROW, "manifest.json", "state.json", "dataset_info.json"])
def test_damaged_preference_files(name, real_prefs, model_dir, tmp_path, no_training):
    codes = []
    for seed in range(CASES):
        case = tmp_path / str(seed)
        damaged = damaged_copy(real_prefs, case / "prefs", name, random.Random(f"{name}-{seed}"))
        codes.append(preference_commands(case / "prefs", damaged, seed, model_dir, case / "run"))
    assert_damage_was_seen(codes, name)


def test_damaged_images(real_prefs, model_dir, tmp_path, no_training):
    png = first_image_bytes(real_prefs)
    codes = []
    for seed in range(CASES):
        case = tmp_path / str(seed)
        picture = {"bytes": damage(png, random.Random(f"image-{seed}")) or b"\0", "path": None}
        directory = rebuild(real_prefs, case / "prefs", first_image(picture))
        codes.append(preference_commands(directory, directory / ARROW, seed, model_dir, case / "run"))
    assert_damage_was_seen(codes, "image")


def test_damaged_run_records(real_run, real_prefs, model_dir, tmp_path, smoke_results, no_training):
    warnings = 0
    for seed in range(CASES):
        case = tmp_path / str(seed)
        run_dir = case / "work" / "mini-llava-s" / "dpo" / "seed0"
        damaged = damaged_copy(real_run, run_dir, "run.json", random.Random(f"run-{seed}"))
        plan = run_main(["reproduce", "--table", "1", "--profile", "mini-smoke", "--models", "mini-llava-s",
                         "--dry-run", "--work-dir", str(case / "work"), "--results", str(smoke_results)])
        check(plan, damaged, seed)
        warnings += "treated as not done" in plan.out
        check(run_main(train_args(model_dir, real_prefs, run_dir)), damaged, seed)
    assert warnings, "no damaged run.json was reported as not done"


def test_damaged_eval_results(smoke_results, tmp_path):
    files = sorted(smoke_results.rglob("eval.json"))
    codes = []
    for seed in range(CASES):
        rng = random.Random(f"eval-{seed}")
        candidate = tmp_path / str(seed)
        shutil.copytree(smoke_results, candidate)
        damaged = candidate / rng.choice(files).relative_to(smoke_results)
        damaged.write_bytes(damage(damaged.read_bytes(), rng))
        check(run_main(["regress", "--reference", str(smoke_results), "--candidate", str(candidate)]),
              damaged, seed, allowed=(0, 1, 2))
        codes.append(check(run_main(["tables", "--table", "1", "--profile", "mini", "--results", str(candidate),
                                     "--out", str(tmp_path / f"tables{seed}")]), damaged, seed))
    assert_damage_was_seen(codes, "eval.json")


def _damaged_yaml(source: Path, target: Path, rng: random.Random) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(damage(source.read_bytes(), rng))
    return target


def test_damaged_regression_files(smoke_results, tmp_path):
    codes = []
    for seed in range(CASES):
        path = _damaged_yaml(REPO / "configs" / "regression.yaml", tmp_path / f"{seed}.yaml", random.Random(f"tol-{seed}"))
        codes.append(check(run_main(["regress", "--reference", str(smoke_results), "--candidate", str(smoke_results),
                                     "--settings", str(path), "--across-worlds"]), path, seed))
    assert_damage_was_seen(codes, "regression file")


def test_damaged_profiles(tmp_path):
    codes = []
    for seed in range(CASES):
        path = _damaged_yaml(REPO / "configs" / "profiles" / "mini-smoke.yaml", tmp_path / f"p{seed}.yaml",
                             random.Random(f"profile-{seed}"))
        codes.append(check(run_main(["reproduce", "--table", "1", "--profile", str(path), "--dry-run",
                                     "--work-dir", str(tmp_path / "work"), "--results", str(tmp_path / "results")]),
                           path, seed))
    assert_damage_was_seen(codes, "profile")


def test_damaged_training_configs(real_prefs, model_dir, tmp_path, no_training):
    codes = []
    for seed in range(CASES):
        path = _damaged_yaml(REPO / "configs" / "training" / "cpu.yaml", tmp_path / f"t{seed}.yaml",
                             random.Random(f"config-{seed}"))
        out = tmp_path / f"run{seed}"
        outcome = run_main(train_args(model_dir, real_prefs, out, "--config", str(path)))
        codes.append(check(outcome, path, seed))
        if outcome.code == 2:
            assert not out.exists()
    assert_damage_was_seen(codes, "training config")
