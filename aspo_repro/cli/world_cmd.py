"""``world``: build the mini world (data, base models, CLIP), describe it, measure it."""

from __future__ import annotations

import argparse
import json

from aspo_repro.aspo_choices import WORLD_SCORERS

NAME = "world"
HELP = "build, describe or measure the mini world (synthetic data, toy base models, small CLIPs)"
DESCRIPTION = """\
The mini profile's world: seeded synthetic scenes with co-occurrence bias, instruction data in
LLaVA-Instruct format, mini-POPE/SHR/GQA/MMB benchmark files, three toy base models
(mini-llava-s, mini-llava-m, mini-instructblip) trained from scratch, and small CLIPs (the models'
vision towers; ASPO-S's two scorers, the default trained on the world's captions as CLIP is trained and
the judge-trained variant, are made beside it on first use). Everything is cached by content hash; a damaged cache entry is
rebuilt. --replicate K builds the same world with its initial weights perturbed by float-rounding-sized
noise, as another CPU's kernels perturb them (the regression references' replicates).

  python -m aspo_repro world build                 # full size, seed 0 (a few minutes cold)
  python -m aspo_repro world build --size tiny     # the test-sized world (seconds)
  python -m aspo_repro world build --scorer judge-trained   # and the judge-trained scorer beside it
  python -m aspo_repro world info                  # where it is, what it holds, stage checks
  python -m aspo_repro world measure               # existence accuracy, hallucination, CLIP ranking

The cache directory is --cache-dir, else $ASPO_CACHE_DIR, else <repository>/.cache/aspo."""

ACTIONS = ("build", "info", "measure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="build (or reuse), info, or measure the world")
    parser.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    parser.add_argument("--size", default="full", help="full (default) or tiny")
    parser.add_argument("--replicate", type=int, default=0, help="replicate of the mini world: > 0 perturbs its initial weights by float-rounding-sized noise, as another CPU does (default 0)")
    parser.add_argument("--cache-dir", help="cache directory (default $ASPO_CACHE_DIR or <repo>/.cache/aspo)")
    parser.add_argument("--scorer", action="append", default=[], choices=sorted(WORLD_SCORERS),
                        help="build: make this scorer of ASPO-S beside the world's stages too (repeatable; "
                             "otherwise each is made where a run first needs it)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--refresh", action="store_true", help="measure: measure again even if stored")
    parser.add_argument("--json", action="store_true", help="info/measure: print JSON")


def run(args: argparse.Namespace) -> int:
    import time

    from aspo_repro.miniworld import locate_world, obtain_world
    from aspo_repro.miniworld.build import Beside

    if args.action == "info":
        world = locate_world(args.seed, args.cache_dir, args.size, args.replicate)
        summary = world_summary(world)
        print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
        return 0
    start = time.perf_counter()
    beside = [Beside(WORLD_SCORERS[name].made_beside_world) for name in dict.fromkeys(args.scorer)]
    world = obtain_world(args.seed, args.cache_dir, args.size, progress=not args.quiet, replicate=args.replicate,
                         beside=beside)
    if args.action == "build":
        print(f"world ready in {time.perf_counter() - start:.1f} s: {world.root}")
        return 0
    from aspo_repro.miniworld.quality import measure_world

    quality = measure_world(world, progress=not args.quiet, refresh=args.refresh)
    print(json.dumps(quality, indent=2) if args.json else format_quality(quality))
    return 0


def world_summary(world) -> dict:
    from aspo_repro.miniworld.build import QUALITY_FILE, stage_status

    status = stage_status(world)
    summary = {"root": str(world.root), "seed": world.seed, "size": world.size, "replicate": world.replicate,
               "stages": status}
    if status.get("data") == "ok":
        data = {"sft_items": len(json.loads(world.sft_json.read_text())),
                "pool_instructions": len(json.loads(world.instructions_json.read_text()))}
        for path in sorted(world.benchmark_dir.glob("*.jsonl")):
            data[path.stem] = sum(1 for line in path.open() if line.strip())
        summary["data"] = data
    quality_path = world.root / QUALITY_FILE
    if quality_path.is_file():
        summary["quality"] = {k: v for k, v in json.loads(quality_path.read_text()).items() if k != "provenance"}
    return summary


def format_summary(summary: dict) -> str:
    replicate = f", replicate {summary['replicate']}" if summary.get("replicate") else ""
    lines = [f"world {summary['root']}", f"  seed {summary['seed']}, size {summary['size']}{replicate}"]
    lines += [f"  {name:<18} {state}" for name, state in summary["stages"].items()]
    for key, value in summary.get("data", {}).items():
        lines.append(f"  {key:<18} {value}")
    if all(state == "missing" for state in summary["stages"].values()):
        lines.append("  not built: run `python -m aspo_repro world build`")
    if "quality" in summary:
        lines.append(format_quality(summary["quality"]))
    return "\n".join(lines)


def format_quality(quality: dict) -> str:
    lines = ["held-out quality (ground truth):",
             f"  {'model':<18} {'exist acc':>9} {'yes':>5} {'desc w/ hall':>12} {'desc w/ obj':>11} {'hall sent':>9}"]
    for name, result in quality["models"].items():
        e, d = result["existence"], result["descriptions"]
        lines.append(f"  {name:<18} {e['accuracy']:>9.3f} {e['yes_ratio']:>5.2f} {d['with_hallucination']:>12.3f} "
                     f"{d['with_object_hallucination']:>11.3f} {d['hallucinated_sentences']:>9.3f}")
    lines.append("  existence accuracy by POPE split: " + "; ".join(
        f"{name} " + ", ".join(f"{split} {acc:.3f}" for split, acc in r["existence"]["accuracy_by_split"].items())
        for name, r in quality["models"].items()))
    clip = quality["clip"]
    lines.append(f"  judge-trained scorer: true sentence above absent-object sentence in {clip['true_above_absent']:.3f} "
                 f"of {clip['pairs']} pairs (partner {clip['true_above_absent_partner']:.3f}, "
                 f"random {clip['true_above_absent_random']:.3f})")
    return "\n".join(lines)
