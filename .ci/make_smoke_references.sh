#!/usr/bin/env bash
# Make the regression reference distributions of results/smoke: Table 5 of the mini-smoke profile on
# mini-LLaVA-S, one results root per world replicate (replicate k: the same world with its initial
# weights perturbed by float-rounding-sized noise, as another CPU's kernels perturb them).
# - world0, the world CI and the tests build, with nine seeds: CI's candidate (seeds 0-2) is compared
#   within it, against seeds 3-8 (configs/regression.yaml, docs/regression.md). Made at 4864298.
# - world1 ... world10, six seeds each: the spread between worlds, for a candidate from another kind of
#   CPU (1-4 made at the clean commit 3478c96, 5-7 at ff488bd, 8-10 at 1996521).
# About 3 minutes per replicate on 2 idle CPU cores once its world is built (about 7 more to build it;
# cached in the world cache afterwards).
#
#   bash .ci/make_smoke_references.sh [OUT] [REPLICATES] [SEEDS]
#   # defaults: OUT=results/smoke REPLICATES="1 2 3 4 5 6 7 8 9 10" SEEDS=6; and world0:
#   bash .ci/make_smoke_references.sh results/smoke 0 9
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/smoke}
replicates=${2:-1 2 3 4 5 6 7 8 9 10}
seeds=${3:-6}
scratch=$(mktemp -d)
export HF_HUB_OFFLINE=1
for k in $replicates; do
  profile="$scratch/mini-smoke-r$k.yaml"
  sed "s/^world: {seed: 0, size: full}/world: {seed: 0, size: full, replicate: $k}/" \
      configs/profiles/mini-smoke.yaml > "$profile"
  grep -q "replicate: $k" "$profile" || { echo "could not set the world replicate in $profile" >&2; exit 1; }
  python -m aspo_repro reproduce --table 5 --seeds "$seeds" --profile "$profile" --models mini-llava-s \
      --results "$out/world$k" --tables-dir "$scratch/tables$k" --work-dir "$scratch/work$k"
done
echo "references in $out (work directories in $scratch)"
