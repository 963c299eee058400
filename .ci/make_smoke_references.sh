#!/usr/bin/env bash
# Make the regression reference distributions of results/smoke: Table 5 of the mini-smoke profile on
# mini-LLaVA-S, five seeds, for world replicates 0, 1 and 2 (replicate k > 0: the same world with its
# initial weights perturbed by float-rounding-sized noise, as another CPU's kernels perturb them).
# About 12 minutes per replicate on 2 CPU cores (7 of them build the replicate's world).
#
#   bash .ci/make_smoke_references.sh [OUT]    # default OUT: results/smoke
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/smoke}
scratch=$(mktemp -d)
export HF_HUB_OFFLINE=1
for k in 0 1 2; do
  profile="$scratch/mini-smoke-r$k.yaml"
  sed "s/^world: {seed: 0, size: full}/world: {seed: 0, size: full, replicate: $k}/" \
      configs/profiles/mini-smoke.yaml > "$profile"
  grep -q "replicate: $k" "$profile" || { echo "could not set the world replicate in $profile" >&2; exit 1; }
  python -m aspo_repro reproduce --table 5 --seeds 5 --profile "$profile" --models mini-llava-s \
      --results "$out/world$k" --tables-dir "$scratch/tables$k" --work-dir "$scratch/work$k"
done
echo "references in $out (work directories in $scratch)"
