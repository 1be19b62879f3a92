"""Run a suite's units into an output directory: resumable, failure-tolerant, with progress.

``run_units`` skips the units whose record file exists (unless ``force``), removes the temporary
files of killed runs, and hands the rest to an executor (:mod:`qbench.executors`: serial in this
process by default, or a pool of processes, or a Dask cluster). Every executor ends in
:func:`qbench.executors.unit.run_unit` for each unit, which runs it with its suite's ``run`` and writes
its records whole; a unit that raises is recorded as failed with its traceback and the sweep goes on.
The runner imports the executors; they never import it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from qbench.executors import Executor, Progress, SerialExecutor
from qbench.executors.unit import DONE, FAILED, SKIPPED, failure_record, run_unit, tracking_sigint  # noqa: F401  (the runner's API)
from qbench.experiment import RunContext
from qbench.plan import Plan, RunRequest
from qbench.records import RecordStore
from qbench.scenarios import Unit


@dataclass
class RunReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def set_aside_unreadable(units: Sequence[Unit], store: RecordStore) -> list[str]:
    """Move aside the empty or unparsable files of ``units`` (so they run again), saying so on stderr."""
    moved = []
    for u in units:
        if store.has(u.key):
            why = store.unreadable(u.key)
            if why:
                dest = store.set_aside(u.key)
                print(f"qbench: {why}; moved to {dest.name}, the unit runs again", file=sys.stderr)
                moved.append(u.key)
    return moved


def set_aside_failed(units: Sequence[Unit], store: RecordStore) -> list[str]:
    """Move aside the files of ``units`` that record a failure (kept as ``<key>.jsonl.failed-<UTC time>``), so they run again."""
    moved = []
    for u in units:
        why = store.failure(u.key)
        if why:
            dest = store.set_aside(u.key, tag="failed")
            print(f"qbench: {u.key} failed earlier ({why[:120]}); moved to {dest.name}, the unit runs again",
                  file=sys.stderr)
            moved.append(u.key)
    return moved


def order_by_group(units: Sequence[Unit]) -> list[Unit]:
    """Units of one group (same task and model shape) together, in plan order otherwise."""
    order = {g: i for i, g in reversed(list(enumerate(u.group for u in units)))}
    return sorted(units, key=lambda u: order[u.group])


def run_units(
    units: Sequence[Unit], store: RecordStore, ctx: RunContext, *, force: bool = False, progress: bool = True,
    executor: Executor | None = None, retry_failed: bool = False,
) -> RunReport:
    """Run every unit whose record is not in ``store`` yet (all of them with ``force``; with ``retry_failed``
    also those whose record is a failure)."""
    executor = executor or SerialExecutor()
    store.clean_stale_tmp()
    if not force:
        set_aside_unreadable(units, store)
        if retry_failed:
            set_aside_failed(units, store)
    ordered = order_by_group(units)
    todo = [u for u in ordered if force or not store.has(u.key)]
    todo_keys = {u.key for u in todo}
    skipped = [u.key for u in ordered if u.key not in todo_keys]
    tracker = Progress(todo, skipped=len(ordered) - len(todo), enabled=progress, label=executor.label)
    try:
        with tracking_sigint():  # a KeyboardInterrupt a unit raises is its failure; a SIGINT stops the run
            executor.run(todo, store, ctx, force=force, tracker=tracker)
    finally:
        tracker.close()
    report = RunReport(skipped=skipped)
    for u in todo:
        getattr(report, {DONE: "done", FAILED: "failed", SKIPPED: "skipped"}[tracker.status.get(u.key, FAILED)]).append(u.key)
    return report


def run_plans(plans: Sequence[Plan], request: RunRequest,
              after: Callable[[Plan, RunReport, float], None] | None = None) -> list[tuple[Plan, RunReport]]:
    """Run each plan into its directory on one executor (started once for all of them): [(plan, report)].
    ``after(plan, report, wall_s)`` is called as each plan ends (the command line prints its table)."""
    from qbench.executors import make_executor
    from qbench.plan import default_executor
    from qbench.xla_cache import enable_xla_cache

    enable_xla_cache(request.cache_dir)  # before the first compilation; spawned workers inherit it
    name, workers = default_executor(request, plans)
    executor = make_executor(name, workers=workers, scheduler=request.scheduler, threads=request.threads,
                             watch=request.step_budget != "off")
    for p in plans:
        executor.check(p.units)
    runs = []
    with executor:  # starts or joins the workers (a Dask cluster) once for every suite
        for p in plans:
            start = time.perf_counter()
            report = run_units(p.units, RecordStore(p.out), p.context, force=request.force,
                               progress=request.progress, executor=executor, retry_failed=request.retry_failed)
            if after is not None:
                after(p, report, time.perf_counter() - start)
            runs.append((p, report))
    return runs
