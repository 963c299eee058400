"""Train the caption scorer's grid on a built world and choose its settings by held-out caption retrieval.

The rule (docs/scorer.md, written before the runs): the highest mean of image->text and text->image
R@1 on 500 held-out scenes; configurations within 0.01 of the best are tied, and ties go to fewer
steps, then to no hard negatives. The judge-trained scorer's retrieval is measured beside them.
Every scorer is cached beside the world (``caption_clip.ensure_caption_scorer``), so a rerun only
measures.

    OMP_NUM_THREADS=1 python scripts/experiments/caption_scorer_grid.py --out /tmp/helperC/grid.json
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from aspo_repro.miniworld import caption_clip, caption_retrieval
from aspo_repro.miniworld.build import build_world
from aspo_repro.miniworld.judge_trained import ensure_judge_trained_scorer
from aspo_repro.storage import atomic_write_json

STEPS = (500, 1000, 2000)
TIE = 0.01


def grid() -> list[caption_clip.CaptionClipConfig]:
    """Cheapest first, so that an interrupted run has measured the cheap ones."""
    return [caption_clip.CaptionClipConfig(steps=steps, hard_negatives=negatives)
            for steps in STEPS for negatives in (False, True)]


def choose(rows: list[dict]) -> dict:
    best = max(row["retrieval"]["mean_r1"] for row in rows)
    tied = [row for row in rows if row["retrieval"]["mean_r1"] >= best - TIE]
    return min(tied, key=lambda row: (row["config"]["steps"], row["config"]["hard_negatives"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the grid's results, JSON")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument("--heldout", type=int, default=500, help="held-out scenes")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    world = build_world(seed=args.seed, progress=False)
    heldout = caption_retrieval.heldout_set(world, args.heldout)
    judge_trained = ensure_judge_trained_scorer(world)
    report = {"world": world.root.name, "heldout_scenes": args.heldout,
              "judge_trained": {"checkpoint": str(judge_trained),
                                "retrieval": caption_retrieval.checkpoint_retrieval(judge_trained, heldout)},
              "grid": []}
    for config in grid():
        began = time.perf_counter()
        directory = caption_clip.ensure_caption_scorer(world, config)
        trained = time.perf_counter() - began
        row = {"config": asdict(config), "checkpoint": str(directory), "seconds": round(trained, 1),
               "retrieval": caption_retrieval.checkpoint_retrieval(directory, heldout)}
        report["grid"].append(row)
        print(config.steps, config.hard_negatives, row["seconds"], row["retrieval"], flush=True)
        atomic_write_json(args.out, report)
    report["chosen"] = choose(report["grid"])
    atomic_write_json(args.out, report)
    print("chosen:", report["chosen"]["config"]["steps"], report["chosen"]["config"]["hard_negatives"])


if __name__ == "__main__":
    main()
