"""``train``: preference-optimise a model with one registered method (TRL DPOTrainer + PEFT LoRA)."""

from __future__ import annotations

import argparse
import sys

NAME = "train"
HELP = "train one method on one model from a preference directory (resumable)"
DESCRIPTION = """\
Train a registered method (see `methods`) on a registered model or a model directory, with LoRA,
from a preference directory (see aspo_repro/training/preferences.py for its columns).

  python -m aspo_repro train --method aspo --model mini-llava-s --prefs prefs/mini-llava-s --out runs/aspo
  python -m aspo_repro train --method dpo --model llava-1.5-7b --prefs prefs/llava --out runs/dpo --config paper

OUT receives adapter/, merged/ (loadable with from_pretrained), metrics.jsonl and run.json
(written last). Run the same command again after an interruption and it resumes from the last
checkpoint; a finished run is skipped. Several GPUs: accelerate launch --config_file
configs/accelerate/<file>.yaml -m aspo_repro train ..."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", required=True, help="a registered method (python -m aspo_repro methods)"
    )
    parser.add_argument(
        "--model", required=True, help="a registered model name or a model directory"
    )
    parser.add_argument(
        "--prefs",
        required=True,
        help="preference directory (datasets save_to_disk + manifest.json)",
    )
    parser.add_argument(
        "--out", required=True, help="run directory to write (resumed when it holds a partial run)"
    )
    parser.add_argument(
        "--config", help="training YAML: a path or a name in configs/training/ (paper, cpu)"
    )
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's, 42)")
    parser.add_argument(
        "--alpha", type=float, help="ASPO's alpha (Eq. 10), overriding the method's"
    )
    parser.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    parser.add_argument("--world-seed", type=int, default=0, help="mini models: seed of their mini world (default 0)")
    parser.add_argument("--world-size", choices=("full", "tiny"), default="full",
                        help="mini models: mini world preset (default full)")
    parser.add_argument("--world-replicate", type=int, default=0, help="mini models: replicate of the mini world: > 0 perturbs its initial weights by float-rounding-sized noise, as another CPU does (default 0)")
    parser.add_argument("--cache-dir", help="mini models: the mini world's cache (default: $ASPO_CACHE_DIR or .cache/aspo); "
                                            "a missing world is built first, which is said with its usual time")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.training import load_train_config, train

    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    config = load_train_config(args.config)
    options = dict(config.method_options)
    if args.alpha is not None:
        options["alpha"] = args.alpha
    config = config.with_overrides(
        max_steps=args.max_steps,
        seed=args.seed,
        tensorboard=True if args.tensorboard else None,
        method_options=options,
    )
    train(args.method, args.model, args.prefs, args.out, config, log=log, world=mini_world(args, log))
    return 0


def mini_world(args: argparse.Namespace, log):
    """A function building the mini world a mini model's name resolves in; None for other models."""
    from aspo_repro.models import get_model_spec, is_model_name

    if not is_model_name(args.model) or not get_model_spec(args.model).profile_kind.builds_world:
        return None
    from aspo_repro.miniworld import obtain_world

    return lambda: obtain_world(args.world_seed, args.cache_dir, args.world_size, log=log,
                                replicate=args.world_replicate)
