"""Throughput of the SeVa preference pipeline on the mini world, and of CLIP sentence scoring.

Two figures, printed with what they were measured on:

- ``pairs/s``: instructions of the mini world's pool answered twice (clean and noised image),
  filtered, segmented, CLIP-scored and written, end to end (``prefs`` itself, through
  :func:`aspo_repro.data.build_preferences`), and the generation part alone;
- ``sentences/s``: (image, sentence) pairs scored by the world's CLIP with the disk cache off,
  after one warm-up batch.

The same run prints the pairs' ground truth (chosen vs rejected hallucination), so the speed is
never read apart from what the pairs are.

    python benchmarks/prefs_throughput.py [--model mini-llava-s] [--instructions 64] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mini-llava-s", help="a mini model (default mini-llava-s)")
    parser.add_argument("--world-size", default="full", choices=("full", "tiny"))
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--world-root", help="use this built world directory as it is (default: build_world)")
    parser.add_argument("--instructions", type=int, default=64, help="pool instructions to answer (default 64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--sentences", type=int, default=1024, help="sentences to score with CLIP (default 1024)")
    parser.add_argument("--clip-batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def pipeline_throughput(args, world) -> dict:
    """``prefs`` on the first ``--instructions`` of the world's pool: the mini path of
    ``build_preferences`` (the world's pool, model, CLIP and ground truth), timed."""
    from aspo_repro.data import PrefsConfig, build_preferences
    from aspo_repro.data.backends import default_backends
    from aspo_repro.data.instructions import read_instructions
    from aspo_repro.data.pipeline import SourceData

    with tempfile.TemporaryDirectory() as tmp:
        config = PrefsConfig(
            model=args.model, instructions="mini", out=Path(tmp) / "prefs", limit=args.instructions,
            batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, world_seed=world.seed,
            world_size=world.size, progress=False, device="cpu",
        )
        source = SourceData(read_instructions(world.instructions_json, world.image_dir, limit=args.instructions),
                            {"instructions": "mini", "world": world.root.name}, world)
        began = time.perf_counter()
        manifest = build_preferences(config, default_backends(config, world), source).manifest
        total = time.perf_counter() - began
    return {
        "model": args.model,
        "world": world.root.name,
        "instructions": manifest["counts"]["instructions"],
        "batch_size": args.batch_size,
        "pairs_per_second": manifest["throughput"]["pairs_per_second"],
        "generation_pairs_per_second": manifest["throughput"]["generation_pairs_per_second"],
        "seconds_with_loading": total,
        "counts": manifest["counts"],
        "ground_truth": manifest.get("ground_truth"),
    }


def clip_sentences(world, count: int) -> tuple[list, list[str]]:
    """``count`` (image, sentence) pairs: the pool's scenes with the sentences of their own
    ground-truth descriptions."""
    import random

    from PIL import Image

    from aspo_repro.miniworld.grammar import describe
    from aspo_repro.segmentation import split_sentences

    images, sentences = [], []
    rng = random.Random(0)
    for scene in world.scenes("pool"):
        with Image.open(Path(world.image_dir) / f"{scene.id}.png") as opened:
            image = opened.convert("RGB")
        for sentence in split_sentences(describe(scene, rng)):
            images.append(image)
            sentences.append(sentence)
            if len(sentences) == count:
                return images, sentences
    return images, sentences


def clip_throughput(args, world) -> dict:
    import torch

    from aspo_repro.aspo_choices import DATA_SCORER, WORLD_SCORERS
    from aspo_repro.clip_scorer import ClipScorer

    images, sentences = clip_sentences(world, args.sentences)
    checkpoint = WORLD_SCORERS[DATA_SCORER].checkpoint(world)  # the scorer of the mini preference data
    scorer = ClipScorer.from_dir(checkpoint, use_disk_cache=False, batch_size=args.clip_batch_size)
    scorer.score(images[:args.clip_batch_size], sentences[:args.clip_batch_size])  # warm-up
    scorer = ClipScorer.from_dir(checkpoint, use_disk_cache=False, batch_size=args.clip_batch_size)
    began = time.perf_counter()
    scores = scorer.score(images, sentences)
    seconds = time.perf_counter() - began
    return {
        "sentences": len(sentences),
        "distinct_images": len({id(image) for image in images}),
        "sentences_per_second": len(sentences) / seconds,
        "mean_similarity": float(torch.as_tensor(scores).mean()),
        "batch_size": args.clip_batch_size,
    }


def main(argv=None) -> int:
    import os

    import torch

    from aspo_repro.miniworld import World, build_world
    from aspo_repro.miniworld.config import world_config

    args = parse_args(argv)
    if args.world_root:
        world = World(Path(args.world_root), args.world_seed, args.world_size, world_config(args.world_size))
    else:
        world = build_world(seed=args.world_seed, size=args.world_size)
    figures = {
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": os.getloadavg()},
        "pipeline": pipeline_throughput(args, world),
        "clip": clip_throughput(args, world),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    pipe, clip = figures["pipeline"], figures["clip"]
    counts = pipe["counts"]
    print(f"pipeline ({pipe['model']}, {pipe['instructions']} instructions, batch {pipe['batch_size']}): "
          f"{pipe['pairs_per_second']:.2f} pairs/s end to end, {pipe['generation_pairs_per_second']:.2f} pairs/s generating")
    print(f"  kept {counts['kept']}, identical dropped {counts['dropped_identical']} "
          f"({100 * counts['dropped_identical_share']:.1f}%), empty dropped {counts['dropped_empty']}")
    if pipe["ground_truth"]:
        truth = pipe["ground_truth"]
        print(f"  hallucinated sentences: chosen {_rate(truth['chosen'])}, rejected {_rate(truth['rejected'])}; "
              f"pairs by more hallucination {truth['pairs_by_more_hallucinated_sentences']}")
    print(f"CLIP ({clip['sentences']} sentences, batch {clip['batch_size']}): {clip['sentences_per_second']:.0f} sentences/s")
    print(f"machine: {figures['machine']}")
    return 0


def _rate(side: dict) -> str:
    rate = side["sentence_hallucination_rate"]
    return "n/a" if rate is None else f"{100 * rate:.1f}% of {side['judged']}"


if __name__ == "__main__":
    raise SystemExit(main())
