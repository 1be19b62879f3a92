"""Executors: where the units of a run execute.

* ``serial`` (default): one after the other in this process.
* ``local``: a pool of ``--workers`` processes on this machine (``spawn``).
* ``dask``: a ``dask.distributed`` cluster: ``--scheduler ADDRESS``, or a ``LocalCluster`` of
  ``--workers`` processes.

How units travel: a unit is plain data; a worker receives its suite name, key and ``config`` and
rebuilds it with ``get_suite(suite).unit_from_config(config)``, checking that the rebuilt key is the
planned one, then runs it with the suite's ``run(config, context, out_dir)``
(:func:`qbench.executors.unit.run_unit`), as the serial executor and ``qbench verify`` do. Units go in batches, one per group (same task and
model shape), so that a worker process compiles a shape once (compiled functions are cached per
process); a group is cut into pieces only when there are fewer groups than workers.

Who writes: the worker, each unit's file as soon as the unit ends (whole, atomically; never over a
file another process wrote meanwhile, unless ``--force``). The parent watches the output directory
for progress and writes failure records only for units whose worker died.

Threads: each worker caps TensorFlow's intra-op threads (and BLAS's) at ``--threads``; by default the
machine's cores divided by the workers (1 thread per worker when workers == cores), so the workers do
not oversubscribe the cores. The serial executor leaves TensorFlow's default unless ``--threads``.
"""

from __future__ import annotations

from qbench.errors import QbenchError
from qbench.executors.base import Batch, Executor, Progress, make_batches
from qbench.executors.serial import SerialExecutor

EXECUTORS = ("serial", "local", "dask")


def make_executor(name: str = "serial", *, workers: int | None = None, scheduler: str | None = None,
                  threads: int | None = None, watch: bool = True) -> Executor:
    """An executor by name; QbenchError for options that do not fit it. ``watch``: stop unlearning
    steps that run past their budget (serial and local; see :mod:`qbench.watchdog`)."""
    if name not in EXECUTORS:
        raise QbenchError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise QbenchError(f"--workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise QbenchError(f"--threads must be >= 1, got {threads}")
    if scheduler and name != "dask":
        raise QbenchError("--scheduler needs --executor dask")
    if name == "serial":
        if workers not in (None, 1):
            raise QbenchError("--workers needs --executor local or dask")
        return SerialExecutor(threads, watch=watch)
    if name == "local":
        from qbench.executors.local import LocalExecutor

        return LocalExecutor(workers, threads, watch=watch)
    from qbench.executors.dask_cluster import DaskExecutor

    return DaskExecutor(workers, scheduler, threads)


__all__ = ["EXECUTORS", "Batch", "Executor", "Progress", "SerialExecutor", "make_batches", "make_executor"]
