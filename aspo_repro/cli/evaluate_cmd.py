"""``evaluate``: run lmms-eval on a model directory and write one normalised result file."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "evaluate"
HELP = "evaluate a model directory on the paper's or the mini world's benchmarks (through lmms-eval)"
DESCRIPTION = """\
Evaluate a model directory (a base checkpoint or a merged trained one) with lmms-eval and write
one result file: per benchmark the paper's metric on the paper's 0-100 scale (POPE: the F1 of
the random, popular and adversarial splits averaged, x 100; SHR: hallucinated sentences per
judged sentence x 100, lower is better), its standard error where lmms-eval gives one, the
number of questions, the judge model where one was used, the lmms-eval and task versions, and
the path of lmms-eval's raw output, kept beside the file in <out stem>.lmms_eval/.

Benchmark sets: `mini` (mini_pope, mini_shr, mini_gqa, mini_mmb) and `paper` (mmvet,
mmbench_dev, mmbench_test, mmbench_cn, seed_image, llava_wild, sqa_img, gqa, pope, shr), or
names separated by commas. Benchmarks that need a GPT judge (mmvet, llava_wild, shr, and
MMBench's answer extraction) read OPENAI_API_KEY, and OPENAI_BASE_URL for an OpenAI-compatible
server other than OpenAI's (its base URL, .../v1); without a key they are reported as missing,
never as 0. mmbench_test is scored by the MMBench server: its answers are written for upload.

  python -m aspo_repro evaluate --model-dir MODEL --benchmarks mini --benchmark-dir WORLD/benchmarks \\
      --out results/mini/mini-llava-s/base/seed0/eval.json
  python -m aspo_repro evaluate --model-dir MODEL --benchmarks pope,gqa --out eval.json --limit 50

An interrupted evaluation writes no result file; run the same command again and finished
benchmarks are taken from their raw lmms-eval output instead of being run again."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, type=Path, help="checkpoint directory (save_pretrained layout)")
    parser.add_argument("--benchmarks", required=True, help="mini, paper, or benchmark names separated by commas")
    parser.add_argument("--out", required=True, type=Path, help="the result file to write (JSON)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N questions of each task (smoke runs)")
    parser.add_argument("--benchmark-dir", type=Path,
                        help="mini profile: the world's benchmark directory (default: the mini world of "
                             "--world-seed and --world-size, built or reused from ASPO_CACHE_DIR)")
    parser.add_argument("--world-seed", type=int, default=0, help="mini world to use without --benchmark-dir (default 0)")
    parser.add_argument("--world-size", default="full", help="mini world size without --benchmark-dir: full or tiny")
    parser.add_argument("--cache-dir", help="the mini world's cache (default: $ASPO_CACHE_DIR or .cache/aspo)")
    parser.add_argument("--shr-data", type=Path, help="paper SHR: documents written by shr.prepare_shr_docs")
    parser.add_argument("--model-name", help="model name recorded in the result (default: the directory's name)")
    parser.add_argument("--method", default="base", help="method name recorded in the result (default: base)")
    parser.add_argument("--seed", type=int, default=0, help="training seed recorded in the result (default 0)")
    parser.add_argument("--adapter", help="lmms-eval model adapter (default: aspo_hf for mini, llava_hf / "
                                          "instructblip by the checkpoint's model type for paper)")
    parser.add_argument("--batch-size", type=int, default=32, help="questions per generation batch (default 32)")
    parser.add_argument("--device", default="auto",
                        help="auto (default: cuda when available, else cpu), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for aspo_hf generation (default 1: fastest for the mini models)")
    parser.add_argument("--protocol", default="llava",
                        help="paper: llava (default: LLaVA-1.5's own prompts, image padding, POPE parsing and "
                             "judges) or lmms-eval (lmms-eval's defaults); see docs/protocol.md")
    parser.add_argument("--shr-judge-prompt", type=Path,
                        help="paper SHR: HA-DPO's ha_dpo/shr_eval/gpt_utils.py (or a text file with its prompt) "
                             "to judge with HA-DPO's verbatim prompt instead of the project's paraphrase")


def run(args: argparse.Namespace) -> int:
    from aspo_repro.devices import resolve_device
    from aspo_repro.errors import UserError
    from aspo_repro.evaluation import benchmarks
    from aspo_repro.profile_kinds import get_profile_kind
    from aspo_repro.results import RunKey

    device = resolve_device(args.device)  # before anything slow: a mini world may need building below
    selected = benchmarks.select(args.benchmarks)
    profile = benchmarks.profile_of(selected)
    if not args.model_dir.exists():
        raise UserError(f"model directory {args.model_dir} does not exist")
    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a directory; name the result file, e.g. {args.out / 'eval.json'}")
    benchmark_dir = args.benchmark_dir
    if get_profile_kind(profile).builds_world and benchmark_dir is None:
        benchmark_dir = world_benchmark_dir(args.world_seed, args.world_size, args.cache_dir)
    run_key = RunKey(profile, args.model_name or args.model_dir.resolve().name, args.method, args.seed)

    from aspo_repro.evaluation.runner import EvalSettings, evaluate

    settings = EvalSettings(
        model_dir=args.model_dir, benchmarks=selected, out=args.out, run=run_key, limit=args.limit,
        benchmark_dir=benchmark_dir, shr_data=args.shr_data, adapter=args.adapter,
        batch_size=args.batch_size, device=device, threads=args.threads, protocol=args.protocol,
        shr_judge_prompt=args.shr_judge_prompt,
    )
    result = evaluate(settings)
    print(format_result(result, args.out))
    return 0


def world_benchmark_dir(seed: int, size: str, cache_dir: str | None) -> Path:
    """The benchmark directory of the mini world of ``seed`` and ``size`` (built, or reused from its cache)."""
    from aspo_repro.miniworld import obtain_world

    return Path(obtain_world(seed=seed, size=size, cache_dir=cache_dir).benchmark_dir)


def format_result(result, out: Path) -> str:
    lines = [f"{'benchmark':<13} {'score':>7} {'stderr':>7} {'n':>6}  judge"]
    for name, score in result.scores.items():
        stderr = "-" if score.stderr is None else f"{score.stderr:.2f}"
        lines.append(f"{name:<13} {score.value:>7.2f} {stderr:>7} {score.n or '-':>6}  {score.judge or '-'}")
    for name, reason in result.extra.get("missing", {}).items():
        lines.append(f"{name:<13} {'missing':>7}  {reason}")
    seconds = result.extra.get("seconds", {}).get("total")
    lines.append(f"wrote {out} ({seconds:.0f} s); lmms-eval output in {out.parent / (out.stem + '.lmms_eval')}")
    return "\n".join(lines)
