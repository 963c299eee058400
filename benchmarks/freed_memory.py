"""The CPU workers' malloc setting (``child_environment.KEEP_FREED_MEMORY``) against glibc's default, on the
work it was made for: the first steps of the world's caption scorer, trained in a child process with and
without the setting, in turns, from the same world and seed.

    python benchmarks/freed_memory.py                      # 120 steps, 2 rounds (about 2.5 min)
    python benchmarks/freed_memory.py --steps 40 --rounds 1

Columns: the child's training seconds (best of the rounds), its minor page faults, and its saved weights'
SHA-256 (the setting must not change a bit of them); last, the time ratio default / kept. The world is
the default cache's full world (built first, after saying so, when it is not there). One torch thread
per child, as in the world's workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from aspo_repro.child_environment import KEEP_FREED_MEMORY

ROOT = Path(__file__).resolve().parents[1]

# A child: trains the caption scorer for STEPS steps and prints its seconds, page faults and weights' hash.
_CHILD = """
import dataclasses, hashlib, json, resource, sys, tempfile, time
from pathlib import Path
from aspo_repro.miniworld import caption_clip
from aspo_repro.miniworld.obtain import obtain_world

world = obtain_world(progress=False)
config = dataclasses.replace(caption_clip.SIZE_CONFIGS[world.size], steps=int(sys.argv[1]))
out = Path(tempfile.mkdtemp())
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
caption_clip.train_caption_clip(world.data_dir, out, config, world.config.data.image, world.seed, progress=False)
seconds = time.perf_counter() - start
weights = hashlib.sha256((out / "open_clip_model.safetensors").read_bytes()).hexdigest()
print(json.dumps({"seconds": seconds, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
                  "weights": weights}))
"""


def run_child(steps: int, keep_freed: bool) -> dict:
    env = {name: value for name, value in os.environ.items() if name not in KEEP_FREED_MEMORY}
    if keep_freed:
        env.update(KEEP_FREED_MEMORY)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(steps)], env=env, cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"the child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=120, help="caption-scorer steps per child (default 120)")
    parser.add_argument("--rounds", type=int, default=2, help="children of each setting, in turns (default 2)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be at least 1")
    runs = {"default": [], "kept": []}
    for _ in range(args.rounds):
        runs["default"].append(run_child(args.steps, keep_freed=False))
        runs["kept"].append(run_child(args.steps, keep_freed=True))
    print(f"caption scorer, {args.steps} steps, best of {args.rounds}:")
    print(f"{'malloc':<10}{'seconds':>10}{'page faults':>14}  weights")
    best = {}
    for name, results in runs.items():
        best[name] = min(results, key=lambda r: r["seconds"])
        print(f"{name:<10}{best[name]['seconds']:>10.1f}{best[name]['faults']:>14,}  {best[name]['weights'][:16]}")
    hashes = {r["weights"] for results in runs.values() for r in results}
    print(f"default / kept: {best['default']['seconds'] / best['kept']['seconds']:.2f}x; "
          f"weights {'equal' if len(hashes) == 1 else 'DIFFER'} in all {2 * args.rounds} runs")
    return 0 if len(hashes) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
