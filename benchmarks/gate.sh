#!/usr/bin/env bash
# Speed-regression gate: benchmark the kernels of BASE (default HEAD~1) and of the working tree on
# this machine, in this run, with the same Python environment, and fail if any kernel got slower
# by more than FACTOR (default 1.5). Comparing two runs made minutes apart on one machine keeps
# the gate robust to how fast the machine is; asv's statistics decide what counts as a change, and
# a flagged regression must show again in a second pair of runs before the gate fails (one noisy
# run on a shared machine does not block a change; a real regression shows both times).
#   usage: benchmarks/gate.sh [BASE] [FACTOR]
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref=${1:-HEAD~1}
factor=${2:-1.5}
kernels=${QBENCH_GATE_BENCHMARKS:-'^(bench_qnn\.QNNStep\.time|bench_mlp\.MLPStep\.time|bench_qnn\.QNNForward)'}
asv=${ASV:-asv}
# extra asv run options, e.g. "-a processes=1" (one process per benchmark: half the compile cost)
read -r -a asv_args <<<"${QBENCH_GATE_ASV_ARGS:-}"
if ! base=$(git rev-parse -q --verify "$base_ref^{commit}"); then
  echo "gate: no commit $base_ref here (shallow clone?); nothing to compare"; exit 0
fi
head=$(git rev-parse HEAD)
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/base" "$base" >/dev/null 2>&1
if [ ! -d "$work/base/benchmarks" ]; then
  echo "gate: $base_ref has no benchmarks; nothing to compare"; exit 0
fi
"$asv" machine --yes >/dev/null
compare() {
  # the same asv setup for both trees: the code under test comes first on PYTHONPATH
  PYTHONPATH="$work/base" "$asv" run --python=same --set-commit-hash "$base" -b "$kernels" ${asv_args[@]+"${asv_args[@]}"} --show-stderr >/dev/null
  "$asv" run --python=same --set-commit-hash "$head" -b "$kernels" ${asv_args[@]+"${asv_args[@]}"} --show-stderr >/dev/null
  "$asv" compare --factor "$factor" --split "$base" "$head"
}
echo "gate: $base_ref ($base) -> working tree at $head, factor $factor"
out=$(compare)
echo "$out"
if grep -q "PERFORMANCE DECREASED" <<<"$out"; then
  echo "gate: slower than $factor x in this pair of runs; measuring both again to confirm"
  out=$(compare)
  echo "$out"
  if grep -q "PERFORMANCE DECREASED" <<<"$out"; then
    echo "gate: a kernel is slower than $factor x its time at $base_ref, twice"; exit 1
  fi
fi
echo "gate: no regression beyond $factor x"
