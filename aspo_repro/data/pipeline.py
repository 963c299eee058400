"""``prefs``: the SeVa preference pipeline from instructions to a preference dataset on disk.

For each instruction the model answers greedily with the clean image (chosen) and with the image
noised by forward diffusion (rejected); pairs with identical answers are dropped and counted
(paper section 4.1). Each kept pair carries the sentence spans of its chosen answer and the CLIP
similarity of every chosen sentence to the clean image (the S of Eq. 6). Work is written in
shards and resumes; the dataset and its ``manifest.json`` appear only when complete.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aspo_repro.data.shards as shard_store
from aspo_repro.data.config import MINI_SOURCE, Backends, PrefsConfig, Scorer
from aspo_repro.data.generation import answer_pairs, prepare_for_generation
from aspo_repro.data.instructions import (
    Instruction,
    InstructionSet,
    RecordProblem,
    apply_error_policy,
    read_instructions,
)
from aspo_repro.data.noise import (
    BETA_END,
    BETA_START,
    NUM_TRAIN_TIMESTEPS,
    noise_seed,
)
from aspo_repro.errors import UserError
from aspo_repro.files import warn
from aspo_repro.segmentation import sentence_spans
from aspo_repro.storage import file_lock, lock_path, sha256_file, stable_hash
from aspo_repro.training.preferences import VERDICT_COLUMN, VERDICTS


@dataclass
class PrefsResult:
    out: Path
    manifest: dict[str, Any]
    already_complete: bool = False


@dataclass
class SourceData:
    instruction_set: InstructionSet
    description: dict[str, Any]
    world: Any = None


@dataclass
class RunState:
    """The model and scorer, loaded on first use."""

    backends: Backends
    model: Any = None
    processor: Any = None
    scorer: Scorer | None = None
    counts: shard_store.ShardCounts = field(default_factory=shard_store.ShardCounts)

    def ensure_loaded(self) -> None:
        if self.model is None:
            self.model, self.processor = self.backends.load_model()
            prepare_for_generation(self.model, self.processor)
            self.scorer = self.backends.load_scorer()


def build_preferences(config: PrefsConfig, backends: Backends | None = None, source: SourceData | None = None) -> PrefsResult:
    """Build (or resume, or find complete) the preference dataset of ``config``."""
    if not config.model or config.out is None:
        raise UserError("a preference build needs the model to generate with and the output directory")
    source = source or read_source(config)
    apply_error_policy(source.instruction_set.problems, config.on_error)
    instructions = source.instruction_set.instructions
    if not instructions:
        raise UserError("no usable instructions in the source")
    backends = backends or default_backends(config, source.world)
    fingerprint = stable_hash({"settings": config.settings(), "source": source.description,
                               "instructions": [i.id for i in instructions]})
    # Two processes building the same data: one builds, the other waits and finds it finished.
    with file_lock(lock_path(config.out), f"the preference data at {config.out}", warn):
        finished = shard_store.read_manifest(config.out)
        if finished is not None:
            return _already_built(config, finished, fingerprint)
        if config.out.exists():
            raise UserError(f"{config.out} exists and is not a finished preference dataset; delete it to build "
                            "it again, or choose another --out")
        work = shard_store.open_work_directory(config.out, fingerprint, config.settings())
        plan = shard_store.plan_shards(len(instructions), config.shard_size)
        run_shards(config, instructions, plan, work, RunState(backends))
        manifest = finish(config, source, backends, work, plan, fingerprint)
        return PrefsResult(config.out, manifest)


def finish(config: PrefsConfig, source: SourceData, backends: Backends, work: Path, plan, fingerprint: str) -> dict:
    """Join the finished shards into the dataset and its manifest; the manifest."""
    counts = shard_store.ShardCounts()
    for shard in plan:
        counts.merge(shard_store.read_shard_counts(work, shard))
    if counts.kept == 0:
        raise UserError(
            f"no pair kept of {counts.instructions} instructions ({len(counts.dropped_identical)} identical, "
            f"{len(counts.dropped_empty)} with an empty answer): nothing to train on"
        )
    manifest = build_manifest(config, source, backends, counts, fingerprint)
    if backends.scene_of is not None:
        manifest["ground_truth"] = _ground_truth(work, plan, source.instruction_set.instructions, backends.scene_of)
    shard_store.assemble(config.out, work, plan, manifest)
    return manifest


def _already_built(config: PrefsConfig, manifest: dict[str, Any], fingerprint: str) -> PrefsResult:
    if manifest.get("fingerprint") != fingerprint:
        raise UserError(
            f"{config.out} already holds a preference dataset built with other settings; "
            "choose another --out or delete it"
        )
    return PrefsResult(config.out, manifest, already_complete=True)


def run_shards(config: PrefsConfig, instructions: list[Instruction], plan, work: Path, state: RunState) -> None:
    done = shard_store.finished_shards(work, plan)
    todo = [shard for shard in plan if shard not in done]
    if not todo:
        return
    bar = _progress_bar(config, total=len(instructions), initial=sum(len(s) for s in done))
    try:
        for shard in todo:
            state.ensure_loaded()
            began = time.perf_counter()
            rows, counts = process_shard(config, instructions[shard.start:shard.end], state, bar)
            counts.wall_seconds = time.perf_counter() - began
            write_shard(work, shard, rows, counts, with_verdicts=state.backends.scene_of is not None)
            state.counts.merge(counts)
    finally:
        if bar is not None:
            bar.close()


def write_shard(work: Path, shard, rows: list[dict[str, Any]], counts: shard_store.ShardCounts,
                with_verdicts: bool = False) -> Path:
    return shard_store.write_shard(work, shard, rows, counts, pair_features(with_verdicts))


def process_shard(config: PrefsConfig, instructions: Sequence[Instruction], state: RunState, bar=None):
    """Answer, filter and score one shard's instructions: its rows and its counts."""
    counts = shard_store.ShardCounts(instructions=len(instructions))
    kept: list[tuple[Instruction, Any, str, str]] = []
    for start in range(0, len(instructions), config.batch_size):
        batch = instructions[start:start + config.batch_size]
        images = [load_image(instruction) for instruction in batch]
        began = time.perf_counter()
        pairs = answer_pairs(
            state.model, state.processor, images, [i.prompt for i in batch],
            [noise_seed(config.seed, i.id) for i in batch],
            noise_step=config.noise_step, max_new_tokens=config.max_new_tokens,
        )
        counts.generation_seconds += time.perf_counter() - began
        for instruction, image, pair in zip(batch, images, pairs):
            verdict = classify_pair(pair.chosen, pair.rejected)
            if verdict == "identical":
                counts.dropped_identical.append(instruction.id)
            elif verdict == "empty":
                counts.dropped_empty.append(instruction.id)
            else:
                kept.append((instruction, image, pair.chosen, pair.rejected))
        _advance(bar, len(batch), state.counts, counts)
    rows = score_rows(kept, state.scorer, counts, state.backends.scene_of)
    counts.kept = len(rows)
    return rows, counts


def classify_pair(chosen: str, rejected: str) -> str:
    """``identical`` (no preference to learn), ``empty`` (an answer without text) or ``keep``."""
    if chosen.strip() == rejected.strip():
        return "identical"
    if not chosen.strip() or not rejected.strip():
        return "empty"
    return "keep"


def score_rows(kept, scorer: Scorer, counts: shard_store.ShardCounts, scene_of=None) -> list[dict[str, Any]]:
    """The rows of the kept pairs, with chosen sentence spans and their CLIP similarities (one
    scorer call for the whole shard); with the mini world's ``scene_of``, also each chosen
    sentence's exact verdict (``sentence_verdicts``)."""
    spans = [sentence_spans(chosen) for _, _, chosen, _ in kept]
    images = [image for (_, image, _, _), row_spans in zip(kept, spans) for _ in row_spans]
    sentences = [chosen[s:e] for (_, _, chosen, _), row_spans in zip(kept, spans) for s, e in row_spans]
    began = time.perf_counter()
    similarities = [float(v) for v in scorer(images, sentences)] if sentences else []
    counts.scoring_seconds += time.perf_counter() - began
    counts.sentences_scored += len(sentences)
    if len(similarities) != len(sentences):
        raise RuntimeError(f"the CLIP scorer returned {len(similarities)} similarities for {len(sentences)} sentences")
    rows, offset = [], 0
    for (instruction, _, chosen, rejected), row_spans in zip(kept, spans):
        row = pair_row(instruction, chosen, rejected, row_spans, similarities[offset:offset + len(row_spans)])
        if scene_of is not None:
            row[VERDICT_COLUMN] = sentence_verdicts(chosen, row_spans, scene_of(instruction))
        rows.append(row)
        offset += len(row_spans)
    return rows


def pair_row(instruction: Instruction, chosen: str, rejected: str, spans, similarity) -> dict[str, Any]:
    return {
        "id": instruction.id,
        "images": [{"bytes": instruction.image_path.read_bytes(), "path": instruction.image_path.name}],
        "prompt": instruction.prompt,
        "chosen": chosen,
        "rejected": rejected,
        "chosen_sentence_spans": [[start, end] for start, end in spans],
        "chosen_sentence_similarity": list(similarity),
    }


def sentence_verdicts(text: str, spans, scene) -> list[int]:
    """The exact judge's verdict on each sentence span of ``text``: ``VERDICTS``' codes."""
    from aspo_repro.miniworld.judge import judge_sentence

    return [VERDICTS[judge_sentence(text[start:end], scene)] for start, end in spans]


def pair_features(with_verdicts: bool = False):
    """The agreed schema of the training reader (``aspo_repro.training.preferences``); mini data
    also holds the exact judge's verdict on each chosen sentence."""
    from datasets import Features, Image, List, Value

    features = {
        "id": Value("string"),
        "images": List(Image()),
        "prompt": Value("string"),
        "chosen": Value("string"),
        "rejected": Value("string"),
        "chosen_sentence_spans": List(List(Value("int32"))),
        "chosen_sentence_similarity": List(Value("float32")),
    }
    if with_verdicts:
        features[VERDICT_COLUMN] = List(Value("int8"))
    return Features(features)


def load_image(instruction: Instruction):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(instruction.image_path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        # Checked before the run began; reaching here means the file changed during the run.
        raise UserError(f"record {instruction.id}: image file {instruction.image_path} cannot be read ({error})") from None


# ----------------------------------------------------------------------------- source and backends

def read_source(config: PrefsConfig) -> SourceData:
    world = None
    if config.is_mini:
        world = load_world(config)
        json_path, image_dir = Path(world.instructions_json), Path(world.image_dir)
    else:
        json_path, image_dir = Path(config.instructions), Path(config.image_dir)
    instruction_set = read_instructions(
        json_path, image_dir, sample=config.sample, seed=config.seed, limit=config.limit, progress=config.progress,
    )
    description = {
        "instructions": MINI_SOURCE if config.is_mini else str(json_path),
        "instructions_sha256": sha256_file(json_path),
        "image_dir": str(image_dir),
        "records": instruction_set.total_records,
        "sampled": instruction_set.sampled_records,
    }
    if world is not None:
        description["world"] = world.root.name  # the world's cache key: its data, models and CLIP
    return SourceData(instruction_set, description, world)


def load_world(config: PrefsConfig):
    from aspo_repro.miniworld import obtain_world

    return obtain_world(seed=config.world_seed, cache_dir=config.cache_dir, size=config.world_size,
                        replicate=config.world_replicate, progress=config.progress)


def default_backends(config: PrefsConfig, world=None) -> Backends:
    from aspo_repro.data.backends import default_backends as build

    return build(config, world)


# ----------------------------------------------------------------------------- manifest

def build_manifest(config: PrefsConfig, source: SourceData, backends: Backends, counts: shard_store.ShardCounts,
                   fingerprint: str) -> dict[str, Any]:
    from aspo_repro.provenance import provenance

    answered = counts.instructions
    problems: list[RecordProblem] = source.instruction_set.problems
    return {
        "kind": "seva-preference-pairs",
        "fingerprint": fingerprint,
        "model": {"name": config.model, **backends.describe_model()},
        "clip": backends.describe_clip(),
        "source": {**source.description, "sample": config.sample, "seed": config.seed, "limit": config.limit},
        "noise": {
            "step": config.noise_step, "num_train_timesteps": NUM_TRAIN_TIMESTEPS, "beta_schedule": "sigmoid",
            "beta_start": BETA_START, "beta_end": BETA_END, "seed": config.seed,
            "applied_to": "the processor's normalised pixel tensor",
        },
        "generation": {"decoding": "greedy", "max_new_tokens": config.max_new_tokens, "batch_size": config.batch_size},
        "counts": {
            "instructions": answered,
            "kept": counts.kept,
            "dropped_identical": len(counts.dropped_identical),
            "dropped_identical_share": len(counts.dropped_identical) / answered if answered else 0.0,
            "dropped_empty": len(counts.dropped_empty),
            "skipped_bad_records": len(problems),
            "sentences_scored": counts.sentences_scored,
        },
        "dropped_identical_ids": counts.dropped_identical,
        "dropped_empty_ids": counts.dropped_empty,
        "skipped_records": [asdict(problem) for problem in problems],
        "throughput": {
            "pairs_per_second": answered / counts.wall_seconds if counts.wall_seconds else None,
            "wall_seconds": counts.wall_seconds,
            "generation_pairs_per_second": (answered / counts.generation_seconds
                                            if counts.generation_seconds else None),
            "generation_seconds": counts.generation_seconds,
            "clip_sentences_per_second": (counts.sentences_scored / counts.scoring_seconds
                                          if counts.scoring_seconds else None),
            "scoring_seconds": counts.scoring_seconds,
        },
        "settings": config.settings(),
        "provenance": provenance(),
    }


def _ground_truth(work: Path, plan, instructions: list[Instruction], scene_of) -> dict[str, Any]:
    from aspo_repro.data.hallucination import hallucination_report

    by_id = {instruction.id: instruction for instruction in instructions}
    rows = [row for part in shard_store.shard_datasets(work, plan)
            for row in part.select_columns(["id", "chosen", "rejected"]).to_list()]
    return hallucination_report(rows, lambda row_id: scene_of(by_id[row_id]))


# ----------------------------------------------------------------------------- progress

def _progress_bar(config: PrefsConfig, total: int, initial: int):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="preference pairs", unit="pair", dynamic_ncols=True)


def _advance(bar, count: int, earlier: shard_store.ShardCounts, current: shard_store.ShardCounts) -> None:
    if bar is not None:
        bar.update(count)
        bar.set_postfix(identical=len(earlier.dropped_identical) + len(current.dropped_identical), refresh=False)
