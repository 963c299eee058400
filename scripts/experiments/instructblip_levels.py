"""mini-InstructBLIP's quality levels on other world seeds (docs/miniworld.md, "A pretrained Q-Former").

For each world seed: the world's stages mini-InstructBLIP reads (its data and its vision tower's CLIP),
its base model and the graded ones at 30% and 300% of its SFT steps, all by the world's own code and
cached where ``build_world`` and the plan would cache them; then each evaluated on the mini benchmarks.
Prints one JSON line per model: its scores, its mini-GQA by question type, and its Q-Former pretraining's
held-out accuracy. The LLaVAs are not built (this checks one family's levels, not a whole world).

    python scripts/experiments/instructblip_levels.py --seed 1 --out /tmp/levels
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from instructblip_position import gqa_by_type

from aspo_repro.miniworld import graded
from aspo_repro.miniworld.build import build_stage, locate_world

FAMILY = "mini-instructblip"
LEVELS = (f"{FAMILY}-sft30", FAMILY, f"{FAMILY}-sft300")


def family_built(seed: int):
    """The world of ``seed`` with the stages ``FAMILY`` reads, its model and its graded models built."""
    world = locate_world(seed)
    recipe = world.config.recipe(FAMILY)

    def stage(kind: str, name: str, fingerprints: dict) -> str:
        return build_stage(world.root, seed, world.size, 0, kind, name, fingerprints, progress=False)

    built = {"data": stage("data", "data", {})}
    built[recipe.vision_from] = stage("clip", recipe.vision_from, {"data": built["data"]})
    stage("model", FAMILY, built)
    for name in LEVELS:
        graded.model_dir(world, name, progress=False)
    return world


def measured(world, name: str, out: Path) -> dict:
    directory = graded.model_dir(world, name, progress=False)
    result = out / f"seed{world.seed}" / f"{name}.json"
    if not result.is_file():
        subprocess.run([sys.executable, "-m", "aspo_repro", "evaluate", "--model-dir", str(directory),
                        "--benchmarks", "mini", "--benchmark-dir", str(world.benchmark_dir), "--out", str(result)],
                       check=True, stdout=subprocess.DEVNULL)
    scores = json.loads(result.read_text())["scores"]
    pretraining = json.loads((directory / "build_record.json").read_text())["record"]["qformer_pretraining"]
    return {"seed": world.seed, "model": name, **{k: round(v["value"], 1) for k, v in scores.items()},
            **gqa_by_type(scores, world.benchmark_dir), "pretraining_held_out": pretraining["held_out"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", required=True, help="a world seed (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="where the evaluations go")
    args = parser.parse_args()
    for seed in args.seed:
        world = family_built(seed)
        for name in LEVELS:
            print(json.dumps(measured(world, name, args.out)), flush=True)


if __name__ == "__main__":
    main()
