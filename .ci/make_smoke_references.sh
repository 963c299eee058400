#!/usr/bin/env bash
# Make the regression reference distributions of results/smoke: Table 5 of the mini-smoke profile on
# mini-LLaVA-S, one results root per world replicate (replicate k: the same world with its initial
# weights perturbed by float-rounding-sized noise, as another CPU's kernels perturb them).
# - world0, the world CI and the tests build, with nine seeds: CI's candidate (seeds 0-2) is compared
#   within it, against seeds 3-8 (configs/regression.yaml, docs/regression.md). Made at 4864298.
# - world1 ... world10, six seeds each: more seeds for the pooled seed spread of every check, and the
#   spread between worlds (`regress --across-worlds`, indicative) for a candidate from another kind of
#   CPU (1-4 made at the clean commit 3478c96, 5-7 at ff488bd, 8-10 at 1996521).
# About 3 minutes per replicate on 2 idle CPU cores once its world is built (about 7 more to build it;
# cached in the world cache afterwards).
#
# - world0-KIND: world 0 as another kind of machine builds it (its float kernels build another world, and
#   `regress` compares a candidate within its own world only): make it there, commit it, and `regress`
#   finds it by its base models' answers. world0-avx512-amx (Intel Xeon with AMX) made at 755dc0a.
#
#   bash .ci/make_smoke_references.sh [OUT] [REPLICATES] [SEEDS] [KIND]
#   # defaults: OUT=results/smoke REPLICATES="1 2 3 4 5 6 7 8 9 10" SEEDS=6; and world0:
#   bash .ci/make_smoke_references.sh results/smoke 0 9
#   # another machine kind's world 0 (results/smoke/world0-KIND; about 35 minutes on 2 cores):
#   bash .ci/make_smoke_references.sh results/smoke 0 9 KIND
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/smoke}
replicates=${2:-1 2 3 4 5 6 7 8 9 10}
seeds=${3:-6}
kind=${4:+-$4}
case "$kind" in *[!A-Za-z0-9_.-]*) echo "KIND must be letters, digits, '.', '_' or '-': $4" >&2; exit 2;; esac
scratch=$(mktemp -d)
export HF_HUB_OFFLINE=1
for k in $replicates; do
  profile="$scratch/mini-smoke-r$k.yaml"
  sed "s/^world: {seed: 0, size: full}/world: {seed: 0, size: full, replicate: $k}/" \
      configs/profiles/mini-smoke.yaml > "$profile"
  grep -q "replicate: $k" "$profile" || { echo "could not set the world replicate in $profile" >&2; exit 1; }
  python -m aspo_repro reproduce --table 5 --seeds "$seeds" --profile "$profile" --models mini-llava-s \
      --results "$out/world$k$kind" --tables-dir "$scratch/tables$k" --work-dir "$scratch/work$k"
done
echo "references in $out (work directories in $scratch)"
