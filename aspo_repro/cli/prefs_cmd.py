"""``prefs``: build the preference data with the SeVa pipeline, or show one of its pairs."""

from __future__ import annotations

import argparse

NAME = "prefs"
HELP = "build preference pairs (SeVa pipeline: clean vs diffusion-noised image) or show one"
DESCRIPTION = """\
Build the paper's preference data (section 4.1): the model answers every instruction with
greedy decoding, once with the clean image (chosen) and once with the image noised by forward
diffusion at --noise-step (rejected); pairs with identical answers are dropped and counted.
Each kept pair carries the sentence spans of the chosen answer and the CLIP similarity of every
chosen sentence to its image. The result is a datasets dataset in --out with a manifest.json.
An interrupted run resumes where it stopped when the same command is run again.

  python -m aspo_repro prefs --model mini-llava-s --instructions mini --out data/prefs/mini-llava-s
  python -m aspo_repro prefs --model llava-1.5-7b --instructions llava_instruct_150k.json \\
      --image-dir coco/train2017 --sample 20000 --seed 0 --out data/prefs/llava-1.5-7b
  python -m aspo_repro prefs show data/prefs/mini-llava-s --index 0"""

SHOW_DESCRIPTION = """\
Print one preference pair: the prompt, each sentence of the chosen answer with its CLIP
similarity S and min-max normalised S^ (the similarity weight ASPO gives it, Eq. 6-7), and the
rejected answer.

  python -m aspo_repro prefs show data/prefs/mini-llava-s --index 3"""


DIAGNOSE_DESCRIPTION = """\
Measure a mini preference dataset against the mini world's exact judge: the hallucination rate
of chosen and rejected sentences, the confounds (which side is longer, claims more objects,
hallucinates more, and which hallucinates more among pairs of equal length), the AUC with which the
weights of ASPO-S, ASPO-P and ASPO-S+P rank the chosen answers' correct sentences above their
hallucinated ones, pooled and within answers (0.5: no signal; a 95% bootstrap interval over pairs;
perplexity from the base model the data was generated with), and the gradient scale c(1+w) each
class gets at equal per-token rewards. `reproduce` measures every mini model's data this way and
prints it under each mini table.

  python -m aspo_repro prefs diagnose runs/mini/mini-llava-s/prefs
  python -m aspo_repro prefs diagnose runs/mini/mini-llava-s/prefs --out diagnosis.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a registered model (python -m aspo_repro models) or a model directory")
    parser.add_argument("--instructions", help="'mini' (the mini world's instruction pool) or a LLaVA-Instruct-150K JSON")
    parser.add_argument("--image-dir", help="image folder of a LLaVA-Instruct JSON (COCO layout)")
    parser.add_argument("--out", help="output directory of the preference dataset")
    parser.add_argument("--sample", type=int, help="draw N instructions from the source (the paper: 20000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and of the image noise (default 0)")
    parser.add_argument("--limit", type=int, help="use only the first N instructions (after sampling)")
    parser.add_argument("--noise-step", type=int, default=500, help="diffusion step of the rejected image (default 500 of 1000)")
    parser.add_argument("--batch-size", type=int, default=8, help="instructions per generate call (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="longest answer in tokens (default 512)")
    parser.add_argument("--shard-size", type=int, default=64, help="instructions per resumable shard (default 64)")
    parser.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                        help="a bad record stops the run before anything is written (stop, default) or is skipped and counted")
    parser.add_argument("--clip", help="CLIP for sentence similarity: open_clip ARCH/PRETRAINED, or a directory "
                                       "(default: ViT-L-14-336/openai; the world's CLIP for mini models)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), help="model precision (default: the loader's)")
    parser.add_argument("--protocol", help="paper models: the evaluation protocol whose conversation the answers are "
                                           "asked in (llava: LLaVA-1.5's vicuna_v1, as SeVa and the paper profile; "
                                           "default: the checkpoint's own chat template); see docs/protocol.md")
    parser.add_argument("--world-seed", type=int, default=0, help="seed of the mini world (default 0)")
    parser.add_argument("--world-size", choices=("full", "tiny"), default="full", help="mini world preset (default full)")
    parser.add_argument("--world-replicate", type=int, default=0, help="replicate of the mini world: > 0 perturbs its initial weights by float-rounding-sized noise, as another CPU does (default 0)")
    parser.add_argument("--cache-dir", help="mini world cache directory (default: the world's own)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    actions = parser.add_subparsers(dest="prefs_action", metavar="show|diagnose")
    show = actions.add_parser("show", help="print one pair with its chosen sentences and their similarities",
                              description=SHOW_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("directory", help="a preference dataset written by prefs")
    show.add_argument("--index", type=int, default=0, help="0-based row of the pair (default 0)")
    diagnose = actions.add_parser("diagnose", help="measure a mini dataset against the exact judge: "
                                  "hallucination, confounds, weight AUC", description=DIAGNOSE_DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    diagnose.add_argument("directory", help="a mini preference dataset written by prefs")
    diagnose.add_argument("--out", help="also write the diagnosis as JSON here")
    diagnose.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    diagnose.add_argument("--no-perplexity", action="store_true",
                          help="skip the weights that need the base model's log-probs (ASPO-P, ASPO-S+P)")
    diagnose.add_argument("--clip", help="score the chosen sentences with this CLIP (an open_clip directory, e.g. "
                          "a caption scorer: docs/scorer.md) instead of the similarities the data holds")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "prefs_action", None) == "show":
        return run_show(args)
    if getattr(args, "prefs_action", None) == "diagnose":
        return run_diagnose(args)
    return run_build(args)


def run_build(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aspo_repro.data import PrefsConfig, build_preferences
    from aspo_repro.errors import UserError

    missing = [flag for flag, value in (("--model", args.model), ("--instructions", args.instructions),
                                        ("--out", args.out)) if not value]
    if missing:
        raise UserError(f"prefs needs {', '.join(missing)} (or use `prefs show DIR --index I`)")
    config = PrefsConfig(
        model=args.model, instructions=args.instructions, out=Path(args.out),
        image_dir=Path(args.image_dir) if args.image_dir else None, sample=args.sample, seed=args.seed,
        limit=args.limit, noise_step=args.noise_step, batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens, shard_size=args.shard_size, on_error=args.on_error,
        clip=args.clip, device=args.device, dtype=args.dtype, world_seed=args.world_seed,
        world_size=args.world_size, world_replicate=args.world_replicate,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        progress=not args.no_progress, protocol=args.protocol,
    )
    result = build_preferences(config)
    counts = result.manifest["counts"]
    state = "already complete" if result.already_complete else "written"
    print(f"{result.out}: {state}; {counts['kept']} pairs kept of {counts['instructions']} instructions, "
          f"{counts['dropped_identical']} identical pairs dropped "
          f"({100 * counts['dropped_identical_share']:.1f}%), {counts['dropped_empty']} with an empty answer, "
          f"{counts['skipped_bad_records']} bad records skipped")
    if "ground_truth" in result.manifest:
        print(json.dumps(result.manifest["ground_truth"], indent=2))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from aspo_repro.data import format_pair, load_pair

    print(format_pair(load_pair(args.directory, args.index)))
    return 0


def run_diagnose(args: argparse.Namespace) -> int:
    from aspo_repro.data.diagnostics import diagnose, format_diagnosis
    from aspo_repro.storage import atomic_write_json

    scorer = None
    if args.clip:
        from aspo_repro.data.backends import clip_scorer
        from aspo_repro.devices import resolve_device

        scorer = clip_scorer(args.clip, resolve_device("auto")).score
    report = diagnose(args.directory, seed=args.seed, perplexity=not args.no_perplexity, scorer=scorer,
                      scorer_name=args.clip)
    print(format_diagnosis(report))
    if args.out:
        atomic_write_json(args.out, report)
    return 0
