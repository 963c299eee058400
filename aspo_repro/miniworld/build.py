"""``build_world``: generate the world's data and train its base models and their CLIPs, or reuse them.

A world lives in ``<cache dir>/worlds/<size>-seed<seed>-<key>/``, where the key hashes the
world's configuration, the seed and the code version (the source of the modules that turn the
configuration into files, and the versions of the libraries that compute them). Inside, each
stage is a verified cache entry (``cache.ensure_stage``):

- ``data/``: scenes, images, instruction data, benchmarks (``data.py``);
- ``clip/``: a mini CLIP, an open_clip ``local-dir`` checkpoint (``clip_train.py``): the
  pretrained vision tower of both LLaVAs (as OpenAI's CLIP is LLaVA's);
- ``eva-clip/``: a second CLIP without pre-LayerNorm, InstructBLIP's pretrained vision tower
  (as EVA-CLIP's ViT is InstructBLIP's);
- ``models/<name>/``: each base model, a complete HF checkpoint (``sft.py``; mini-InstructBLIP's
  Q-Former pretrained first, ``qformer_pretraining.py``);
- ``world.json``: what was built, with the stage fingerprints and provenance.

ASPO-S's scorers are made from a built world and kept beside it, on first use (``caption_clip.py``,
``judge_trained.py``); ``beside`` makes them while the world's stages are built.

A damaged stage is rebuilt; a stage is keyed by the fingerprints of the stages it reads, so
new data retrains the CLIPs and the models. Builds of one world are serialised by a file lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from aspo_repro import provenance
from aspo_repro.errors import UserError, unknown_name
from aspo_repro.miniworld import cache
from aspo_repro.miniworld.config import SIZES, WorldConfig, world_config
from aspo_repro.miniworld.data import SPLITS, read_scenes, write_data
from aspo_repro.miniworld.scene import Scene
from aspo_repro.storage import atomic_write_json, sha256_file, stable_hash

WORLD_FILE = "world.json"
QUALITY_FILE = "quality.json"
CODE_PACKAGES = ("torch", "transformers", "tokenizers", "open_clip_torch", "pillow")


# The modules whose code decides the world's files (the judge labels the CLIP's training pairs; the
# quality measures read a world but do not make one, so editing them does not invalidate built worlds).
CODE_MODULES = (
    "miniworld/build.py", "miniworld/cache.py", "miniworld/clip_train.py", "miniworld/config.py",
    "miniworld/data.py", "miniworld/grammar.py", "miniworld/judge.py", "miniworld/lexicon.py",
    "miniworld/negatives.py", "miniworld/qformer_pretraining.py", "miniworld/questions.py",
    "miniworld/render.py", "miniworld/scene.py",
    "miniworld/sft.py", "miniworld/tokenizer.py",
    "models/architectures.py", "models/builders.py", "models/families.py", "models/prompting.py",
    "models/vision_init.py",
)


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the code that turns a configuration into the world's files."""
    package = Path(__file__).resolve().parents[1]
    files = {name: sha256_file(package / name) for name in CODE_MODULES}
    versions = provenance.package_versions(CODE_PACKAGES)
    return stable_hash({"files": files, "versions": versions})


def world_key(config: WorldConfig, seed: int, replicate: int = 0) -> str:
    return stable_hash({"config": config.as_dict(), "seed": seed, "replicate": replicate, "code": code_version()})


@dataclass(frozen=True)
class World:
    """A built world: paths to its data, benchmarks, base models and their CLIPs."""

    root: Path
    seed: int
    size: str
    config: WorldConfig
    # > 0: every trained stage starts from weights perturbed by float-rounding-sized noise seeded by
    # it (``sft.perturb``), as another CPU's kernels perturb them: the regression references' worlds
    replicate: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def image_dir(self) -> Path:
        """Images of the SFT and preference-pool scenes (``image`` fields are file names here)."""
        return self.data_dir / "images"

    @property
    def instructions_json(self) -> Path:
        """The preference-instruction pool, LLaVA-Instruct format."""
        return self.data_dir / "instructions.json"

    @property
    def sft_json(self) -> Path:
        return self.data_dir / "sft.json"

    @property
    def benchmark_dir(self) -> Path:
        """``mini_{pope,shr,gqa,mmb}.jsonl``; ``image`` fields are relative to this directory."""
        return self.data_dir / "benchmarks"

    def clip_stage_dir(self, name: str) -> Path:
        """A CLIP stage by name (``clip`` or ``eva-clip``)."""
        if name not in self.config.clips:
            raise unknown_name("CLIP stage", name, self.config.clips)
        return self.root / name

    @property
    def model_names(self) -> list[str]:
        return [recipe.name for recipe in self.config.models]

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / self.config.recipe(name).name

    def scenes(self, split: str) -> list[Scene]:
        """Ground-truth scenes of ``sft``, ``pool`` (preference instructions) or ``bench`` (held out)."""
        if split not in SPLITS:
            raise unknown_name("scene split", split, SPLITS)
        return read_scenes(self.data_dir, split)

    def info(self) -> dict:
        return json.loads((self.root / WORLD_FILE).read_text())


def world_root(cache_dir: Path, config: WorldConfig, seed: int, replicate: int = 0) -> Path:
    replica = f"-r{replicate}" if replicate else ""
    return cache_dir / "worlds" / f"{config.size}-seed{seed}{replica}-{world_key(config, seed, replicate)[:16]}"


def _check_arguments(seed: int, size: str, replicate: int = 0) -> None:
    for name, value in (("seed", seed), ("replicate", replicate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{name} must be a non-negative integer; got {value!r}")
    if size not in SIZES:
        raise unknown_name("world size", size, SIZES)


def locate_world(seed: int = 0, cache_dir: str | Path | None = None, size: str = "full", replicate: int = 0) -> World:
    """Where the world of ``seed``, ``size`` and ``replicate`` lives in the cache (built or not: see
    :func:`stage_status`)."""
    _check_arguments(seed, size, replicate)
    config = world_config(size)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else cache.default_cache_dir()
    return World(world_root(cache_dir, config, seed, replicate), seed, size, config, replicate)


def stage_directories(world: World) -> dict[str, Path]:
    return {"data": world.data_dir, **{name: world.clip_stage_dir(name) for name in world.config.clips},
            **{name: world.model_dir(name) for name in world.model_names}}


def stage_status(world: World) -> dict[str, str]:
    """Each stage's state: ``ok``, ``missing``, or what is wrong with it (checked against its manifest)."""
    status = {}
    for name, directory in stage_directories(world).items():
        if not directory.exists():
            status[name] = "missing"
            continue
        try:
            inputs_hash = json.loads((directory / cache.MANIFEST).read_text())["inputs"]
        except (OSError, ValueError, KeyError, TypeError):
            status[name] = "no readable manifest (partial or interrupted build)"
            continue
        status[name] = cache.verify_stage(directory, inputs_hash)[1]
    return status


@dataclass(frozen=True)
class Beside:
    """Work made from a built world but kept outside it (the caption scorer, a graded base model), done
    side by side with the world's stages: ``make(world, progress, position)`` once the stages ``needs``
    are built. ``make`` is sent to a worker process: a module-level function or a partial of one."""

    make: Callable[[World, bool, int], object]
    needs: tuple[str, ...] = ("data",)


def build_world(seed: int = 0, cache_dir: str | Path | None = None, size: str = "full",
                progress: bool = True, replicate: int = 0, beside: Sequence[Beside] = (),
                workers: int | None = None) -> World:
    """The world of ``seed`` and ``size`` (``full`` or ``tiny``), built or reused from the cache; each
    of ``beside`` is made once the stages it reads are built, beside the world's other stages;
    ``workers``: processes building side by side (None: the size's, capped by the CPUs; the files do
    not depend on it)."""
    world = locate_world(seed, cache_dir, size, replicate)
    workers = min(world.config.workers if workers is None else workers, os.cpu_count() or 1)
    with cache.exclusive_lock(world.root.parent / f".{world.root.name}.lock"):
        cache.remove_abandoned_builds(world.root)
        fingerprints = _build_stages(world, progress, beside, workers)
        _write_world_file(world, fingerprints)
    return world


@dataclass(frozen=True)
class _Job:
    """One stage of the world, or one job beside it: ``call(*args, fingerprints, progress, position)``
    once every stage of ``needs`` is built (``fingerprints``: theirs)."""

    name: str
    needs: tuple[str, ...]
    call: Callable
    args: tuple


def _build_stages(world: World, progress: bool, beside: Sequence[Beside], workers: int) -> dict[str, str]:
    """Data first, then every CLIP, base model and job beside, each once the stages it reads are built
    (with ``workers`` > 1, side by side in single-threaded worker processes); the stages' fingerprints."""
    fingerprints = {"data": build_stage(world.root, world.seed, world.size, world.replicate, "data", "data", {},
                                        progress)}
    done = _run_jobs(_jobs(world, beside), fingerprints, workers, progress)
    return {name: done[name] for name in stage_directories(world)}


def _jobs(world: World, beside: Sequence[Beside]) -> list[_Job]:
    """The jobs after the data stage, in the order free workers take them (the first listed of those
    whose needs are built): the CLIPs (every base model waits on one; those more models start from
    first), then the jobs beside the world (the caption scorer is the longest job of a cold build), then
    the models in the config's order. With the jobs beside first, the reference's cold
    build at stop 50 left a worker idle for 106 s at its end (caption scorer 373 s, then mini-LLaVA-S;
    mini-InstructBLIP, 277 s, started after mini-LLaVA-M); the same jobs' times give 541 s after the data
    in this order against 586 s."""
    config = world.config
    waiting = {name: sum(recipe.vision_from == name for recipe in config.models) for name in config.clips}

    def stage(kind: str, name: str, needs: tuple[str, ...]) -> _Job:
        return _Job(name, needs, build_stage, (world.root, world.seed, world.size, world.replicate, kind, name))

    return [
        *(stage("clip", name, ("data",)) for name in sorted(config.clips, key=lambda name: -waiting[name])),
        *(_Job(f"beside-{index}", job.needs, _make_beside, (job, world))
          for index, job in enumerate(beside)),
        *(stage("model", recipe.name, ("data", recipe.vision_from)) for recipe in config.models),
    ]


def _make_beside(job: Beside, world: World, fingerprints: dict[str, str], progress: bool, position: int) -> str:
    job.make(world, progress, position)
    return ""


def _run_jobs(jobs: list[_Job], fingerprints: dict[str, str], workers: int, progress: bool) -> dict[str, str]:
    """Run ``jobs``, each once its needs are in ``fingerprints`` (which gathers every job's result); of
    those ready, the first listed first."""
    pending = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        while pending:
            job = _ready(pending, fingerprints, running=False)[0]
            fingerprints[job.name] = _call(job, fingerprints, progress, 0)
            pending.remove(job)
        return fingerprints
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    running, free = {}, list(range(workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        try:
            while pending or running:
                for job in _ready(pending, fingerprints, running=bool(running))[:len(free)]:
                    slot = free.pop(0)
                    running[pool.submit(_call, job, fingerprints, progress, slot)] = (job, slot)
                    pending.remove(job)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    job, slot = running.pop(future)
                    fingerprints[job.name] = future.result()
                    free.append(slot)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return fingerprints


def _ready(pending: list[_Job], fingerprints: dict[str, str], running: bool) -> list[_Job]:
    """The jobs of ``pending`` whose needs are built; an error where none is and none is running."""
    ready = [job for job in pending if all(need in fingerprints for need in job.needs)]
    if not ready and not running:
        raise RuntimeError(f"world jobs wait on what no job builds: {[job.name for job in pending]}")
    return ready


def _call(job: _Job, fingerprints: dict[str, str], progress: bool, position: int) -> str:
    return job.call(*job.args, {need: fingerprints[need] for need in job.needs}, progress, position)


def exit_with_parent(parent: int) -> None:
    """A worker ends when the process that started it is gone (killed, not only interrupted)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def build_stage(root: Path, seed: int, size: str, replicate: int, kind: str, name: str, fingerprints: dict[str, str],
                progress: bool, position: int = 0) -> str:
    """Ensure one stage of the world at ``root`` (``kind``: data, clip or model); its fingerprint.
    ``fingerprints`` holds those of the stages it reads."""
    world = World(Path(root), seed, size, world_config(size), replicate)
    config, key, image = world.config, world.root.name, world.config.data.image
    if kind == "data":
        def build(tmp: Path) -> dict:
            write_data(tmp, config.data, seed, progress)
            return {"seed": seed, "config": asdict(config.data)}

        return cache.ensure_stage(world.data_dir, {"stage": "data", "world": key}, build, what="data",
                                  progress=progress)
    if kind == "clip":
        from aspo_repro.miniworld.clip_train import train_clip

        clip = config.clips[name]
        inputs = {"stage": name, "world": key, "clip": asdict(clip), "data": fingerprints["data"]}
        return cache.ensure_stage(
            world.clip_stage_dir(name), inputs,
            lambda tmp: train_clip(world.data_dir, tmp, clip, image, seed, progress, position, replicate),
            what=name, progress=progress)
    from aspo_repro.miniworld.sft import train_base_model

    recipe = config.recipe(name)
    inputs = {"stage": "model", "world": key, "recipe": asdict(recipe), "data": fingerprints["data"],
              "vision": fingerprints[recipe.vision_from]}
    return cache.ensure_stage(
        world.model_dir(name), inputs,
        lambda tmp: train_base_model(recipe, world.data_dir, world.clip_stage_dir(recipe.vision_from), tmp,
                                     seed, config.data, progress, position, replicate),
        what=f"base model {name}", progress=progress)


def _write_world_file(world: World, fingerprints: dict[str, str]) -> None:
    path = world.root / WORLD_FILE
    if path.is_file():
        try:
            if json.loads(path.read_text()).get("stages") == fingerprints:
                return
        except ValueError:
            pass
    atomic_write_json(path, {
        "seed": world.seed, "size": world.size, "replicate": world.replicate, "key": world.root.name,
        "code_version": code_version(),
        "config": world.config.as_dict(), "stages": fingerprints, "provenance": provenance.provenance(),
    })
