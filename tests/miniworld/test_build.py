"""build_world: checkpoints that load like hub ones, determinism, cache reuse and repair."""

import json
import os
import shutil
import time

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from aspo_repro.errors import UserError
from aspo_repro.miniworld import build_world, cache, locate_world
from aspo_repro.miniworld.build import Beside, stage_status
from aspo_repro.models.prompting import chat_prompt, generate_answers

pytestmark = pytest.mark.slow


def _bench_image(world):
    row = json.loads((world.benchmark_dir / "mini_shr.jsonl").read_text().splitlines()[0])
    return Image.open(world.benchmark_dir / row["image"]).convert("RGB")


def _logits(world, name, image):
    processor = AutoProcessor.from_pretrained(world.model_dir(name))
    model = AutoModelForImageTextToText.from_pretrained(world.model_dir(name)).eval()
    inputs = processor(images=[image], text=[chat_prompt(processor, "Describe the image in detail.")], return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits


def test_every_model_loads_like_a_hub_checkpoint_and_answers(tiny_world):
    image = _bench_image(tiny_world)
    for name in ("mini-llava-s", "mini-llava-m", "mini-instructblip"):
        directory = tiny_world.model_dir(name)
        assert (directory / "model.safetensors").is_file()
        processor = AutoProcessor.from_pretrained(directory)
        model = AutoModelForImageTextToText.from_pretrained(directory).eval()
        assert processor.tokenizer.is_fast
        answers = generate_answers(model, processor, [image, image], ["Is there a circle in the image?"] * 2,
                                   max_new_tokens=4)
        assert len(answers) == 2 and answers[0] == answers[1] and isinstance(answers[0], str)
    assert stage_status(tiny_world) == {name: "ok" for name in ("data", "clip", "eva-clip", "mini-llava-s",
                                                                 "mini-llava-m", "mini-instructblip")}


def test_a_warm_build_reuses_everything(tiny_world):
    before = {p: p.stat().st_mtime_ns for p in tiny_world.root.rglob("*") if p.is_file()}
    start = time.perf_counter()
    again = build_world(seed=0, cache_dir=tiny_world.root.parents[1], size="tiny", progress=False)
    assert time.perf_counter() - start < 10
    assert again.root == tiny_world.root
    assert {p: p.stat().st_mtime_ns for p in tiny_world.root.rglob("*") if p.is_file()} == before


def mark_beside(world, progress, position):
    """A job beside the world (run in a worker process): it says where and when it ran."""
    assert (world.data_dir / cache.MANIFEST).is_file()
    (world.root.parent / f"beside-{os.getpid()}").write_text(str(position))


def test_two_builds_with_one_seed_are_identical_in_sequence_or_side_by_side(tiny_world, tmp_path):
    # the session's tiny world was built in sequence (its size's one worker); this one in two processes
    other = build_world(seed=0, cache_dir=tmp_path, size="tiny", progress=False, workers=2,
                        beside=[Beside(mark_beside)])
    marks = list(other.root.parent.glob("beside-*"))
    assert len(marks) == 1 and marks[0].name != f"beside-{os.getpid()}" and marks[0].read_text() in ("0", "1")
    assert other.root.name == tiny_world.root.name
    data = cache.file_hashes(tiny_world.data_dir)
    data.pop(cache.RECORD)
    other_data = cache.file_hashes(other.data_dir)
    other_data.pop(cache.RECORD)
    assert data == other_data
    image = _bench_image(tiny_world)
    for name in tiny_world.model_names:
        assert torch.equal(_logits(tiny_world, name, image), _logits(other, name, image))
    assert other.info()["stages"] == tiny_world.info()["stages"]


def test_another_seed_gives_another_world(tiny_world, tmp_path):
    other = locate_world(seed=1, cache_dir=tmp_path, size="tiny")
    assert other.root.name != tiny_world.root.name


def _copy(world, tmp_path):
    cache_dir = tmp_path / "copy"
    shutil.copytree(world.root.parents[1], cache_dir)
    return locate_world(seed=0, cache_dir=cache_dir, size="tiny")


def test_a_corrupted_model_is_detected_and_rebuilt(tiny_world, tmp_path, capsys):
    world = _copy(tiny_world, tmp_path)
    weights = world.model_dir("mini-llava-s") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    clip_files = {p: p.stat().st_mtime_ns for p in world.clip_stage_dir("clip").rglob("*")}
    assert stage_status(world)["mini-llava-s"] == "file model.safetensors is corrupted (content hash differs)"
    rebuilt = build_world(seed=0, cache_dir=world.root.parents[1], size="tiny", progress=True)
    assert "rebuilding base model mini-llava-s: file model.safetensors is corrupted" in capsys.readouterr().err
    assert stage_status(rebuilt)["mini-llava-s"] == "ok"
    assert (weights.read_bytes() == (tiny_world.model_dir("mini-llava-s") / "model.safetensors").read_bytes())
    assert {p: p.stat().st_mtime_ns for p in world.clip_stage_dir("clip").rglob("*")} == clip_files


@pytest.mark.parametrize("damage, reason", [
    (lambda world: (world.data_dir / cache.MANIFEST).unlink(), "no readable manifest"),
    (lambda world: (world.data_dir / "sft.json").unlink(), "file sft.json is missing"),
])
def test_a_partial_data_stage_is_rebuilt(tiny_world, tmp_path, damage, reason):
    world = _copy(tiny_world, tmp_path)
    damage(world)
    assert stage_status(world)["data"].startswith(reason)
    rebuilt = build_world(seed=0, cache_dir=world.root.parents[1], size="tiny", progress=False)
    assert all(state == "ok" for state in stage_status(rebuilt).values())
    assert (rebuilt.sft_json.read_bytes() == tiny_world.sft_json.read_bytes())


@pytest.mark.parametrize("kwargs, message", [
    ({"size": "huge"}, "unknown world size 'huge'; known world sizes: full, tiny"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"seed": "1"}, "seed must be a non-negative integer"),
])
def test_bad_arguments_are_user_errors(kwargs, message, tmp_path):
    with pytest.raises(UserError, match=message):
        build_world(cache_dir=tmp_path, progress=False, **kwargs)


def test_world_accessors(tiny_world):
    with pytest.raises(UserError, match="unknown scene split 'test'"):
        tiny_world.scenes("test")
    with pytest.raises(UserError, match="unknown mini model 'llava-1.5-7b'; known mini models: mini-instructblip"):
        tiny_world.model_dir("llava-1.5-7b")
    assert tiny_world.seed == 0 and tiny_world.size == "tiny"
    assert tiny_world.info()["size"] == "tiny"


def test_abandoned_temporary_directories_are_cleaned_up(tiny_world, tmp_path):
    world = _copy(tiny_world, tmp_path)
    leftovers = [world.root / ".clip.abc123.partial", world.root / "models" / ".mini-llava-s.x.partial"]
    for path in leftovers:
        (path / "sub").mkdir(parents=True)
    build_world(seed=0, cache_dir=world.root.parents[1], size="tiny", progress=False)
    assert not any(path.exists() for path in leftovers)
    assert all(state == "ok" for state in stage_status(world).values())


def test_the_code_version_covers_every_module_that_makes_the_world():
    from pathlib import Path

    from aspo_repro.miniworld.build import CODE_MODULES

    package = Path(__file__).resolve().parents[2] / "aspo_repro"
    makers = {p.relative_to(package).as_posix() for p in (package / "miniworld").glob("*.py")}
    # Modules that read or announce a world but write none of its files, and those of ASPO-S's two scorers
    # and the graded base models, each trained from a built world into a cache of its own beside it (keyed
    # by its own code: caption_clip, judge_trained, graded).
    readers = {"miniworld/__init__.py", "miniworld/judge.py", "miniworld/quality.py", "miniworld/obtain.py"}
    beside = {"miniworld/caption_clip.py", "miniworld/caption_retrieval.py", "miniworld/graded.py",
              "miniworld/judge_trained.py"}
    assert makers - readers - beside <= set(CODE_MODULES)
    assert all((package / name).is_file() for name in CODE_MODULES)


def test_a_replicate_is_the_same_world_with_other_trained_weights(tiny_world, tmp_path):
    """Replicate 1 perturbs every trained stage's initial weights by float-rounding-sized noise (what
    another CPU's kernels do): the same data, other weights; replicate 0 is the world itself."""
    replica = build_world(seed=0, cache_dir=tiny_world.root.parents[1], size="tiny", progress=False, replicate=1)
    assert replica.root != tiny_world.root and "-r1-" in replica.root.name
    def data_files(world):  # the stage's build record says when and how long, so differs
        return {name: digest for name, digest in cache.file_hashes(world.data_dir).items() if name != "build_record.json"}

    assert data_files(replica) == data_files(tiny_world)
    for stage in ("clip", "models/mini-llava-s"):
        ours = (tiny_world.root / stage).glob("*.safetensors")
        theirs = {p.name: p.read_bytes() for p in (replica.root / stage).glob("*.safetensors")}
        assert any(theirs[p.name] != p.read_bytes() for p in ours)
    assert locate_world(0, tiny_world.root.parents[1], "tiny", replicate=0).root == tiny_world.root
    with pytest.raises(UserError, match="replicate must be a non-negative integer"):
        locate_world(0, tmp_path, "tiny", replicate=-1)


_POOL_THEN_WAIT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from aspo_repro.miniworld.build import exit_with_parent
pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent,
                           initargs=(os.getpid(),))
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(time.sleep, 120)  # busy, as in a stage: an idle worker would see its queue close and end anyway
time.sleep(120)
"""


def test_a_stage_worker_ends_when_the_build_that_started_it_is_killed():
    import signal
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", _POOL_THEN_WAIT], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(worker, 0)  # running
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its killed parent")
