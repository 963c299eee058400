#!/usr/bin/env bash
# Make the regression reference distributions of results/smoke: Table 5 of the mini-smoke profile on
# mini-LLaVA-S for world replicates 1 to 7, six seeds each (1-4 made at the clean commit 3478c96, 5-7 at
# ff488bd) (replicate k: the same world with its
# initial weights perturbed by float-rounding-sized noise, as another CPU's kernels perturb them).
# World replicate 0, the one CI and the tests build, is held out of the reference: it is CI's
# candidate (configs/regression.yaml, docs/regression.md). About 11 minutes per replicate on 2 CPU
# cores, 7 of them building the replicate's world (cached in the world cache afterwards).
#
#   bash .ci/make_smoke_references.sh [OUT] [REPLICATES] [SEEDS]
#   # defaults: OUT=results/smoke REPLICATES="1 2 3 4 5 6 7" SEEDS=6
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/smoke}
replicates=${2:-1 2 3 4 5 6 7}
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
