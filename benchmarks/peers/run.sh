#!/usr/bin/env bash
# The peer comparison (benchmarks/README.md), in one run: qbench's QNN step against PennyLane on the same circuit,
# the same batch and the same parameters, one engine per process, one after another.
#   usage: benchmarks/peers/run.sh QBENCH_PYTHON PENNYLANE_PYTHON [ENGINES] [SHAPES]
#   ENGINES: any of qbench lightning default-jax (default: all); SHAPES: mnist xxz (default: both)
# PennyLane lives only in the benchmark environment, e.g.
#   python3 -m venv .pl && .pl/bin/pip install pennylane pennylane-lightning "jax[cpu]"
# Prints one JSON line per (engine, shape); loss and gradient norm must agree across engines.
set -euo pipefail
cd "$(dirname "$0")"
qpy=$1; plpy=$2
engines=${3:-"qbench lightning default-jax"}
shapes=${4:-"xxz mnist"}
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$PWD/../..:$PWD"
for shape in $shapes; do
  for engine in $engines; do
    case $engine in
      qbench) "$qpy" qbench_step.py "$shape" 10 ;;
      lightning) "$plpy" pennylane_step.py lightning "$shape" 3 ;;
      default-jax) "$plpy" pennylane_step.py default-jax "$shape" 5 ;;
    esac
  done
done
