#!/usr/bin/env bash
# The peer comparison (benchmarks/README.md), in one run: qbench's QNN step against the straightforward
# TensorCircuit-NG build and PennyLane on the same circuit, the same batch and the same parameters, one engine per
# process, one after another.
#   usage: benchmarks/peers/run.sh QBENCH_PYTHON PENNYLANE_PYTHON [ENGINES] [SHAPES] [ROUNDS]
#   ENGINES: any of qbench cone tcng lightning default-jax (default: all; PENNYLANE_PYTHON is unused, e.g. "-", without
#   the last two); SHAPES: mnist xxz (default: both); ROUNDS: run the engines in turn this many times (default 1),
#   so that a ratio is read from several interleaved runs, not one. TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
#   in the environment: one thread, as the protocol's sweeps run (default: TensorFlow's, one per core)
# PennyLane lives only in the benchmark environment, e.g.
#   python3 -m venv .pl && .pl/bin/pip install pennylane pennylane-lightning "jax[cpu]"
# Prints one JSON line per (engine, shape); loss and gradient norm must agree across engines.
set -euo pipefail
abs() { case $1 in */*) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;; *) echo "$1" ;; esac; }
qpy=$(abs "$1"); plpy=$2
[ "$plpy" = - ] || plpy=$(abs "$plpy")
cd "$(dirname "$0")"
engines=${3:-"qbench tcng lightning default-jax"}
shapes=${4:-"xxz mnist"}
rounds=${5:-1}
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$PWD/../..:$PWD"
for shape in $shapes; do
  for _ in $(seq "$rounds"); do
    for engine in $engines; do
      case $engine in
        qbench|cone|tcng) "$qpy" qbench_step.py "$shape" 20 "$engine" ;;
        lightning) "$plpy" pennylane_step.py lightning "$shape" 3 ;;
        default-jax) "$plpy" pennylane_step.py default-jax "$shape" 5 ;;
        *) echo "unknown engine: $engine" >&2; exit 2 ;;
      esac
    done
  done
done
