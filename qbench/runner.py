"""Run a suite's units into an output directory: resumable, failure-tolerant, with progress.

``run_units`` skips the units whose record file exists (unless ``force``), removes the temporary
files of killed runs, and hands the rest to an executor (:mod:`qbench.executors`: serial in this
process by default, or a pool of processes, or a Dask cluster). Every executor ends in
``run_unit`` for each unit, which writes the unit's records whole; a unit that raises is recorded as
failed with its traceback and the sweep goes on.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from qbench.experiment import RunContext
from qbench.records import RecordStore
from qbench.records.build import new_record
from qbench.records.store import encode_unit
from qbench.scenarios import Unit

if TYPE_CHECKING:
    from qbench.executors import Executor

#: the outcomes of a unit in a run
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass
class RunReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def failure_record(unit: Unit, exc: BaseException | None = None, *, error: str | None = None,
                   tb: str | None = None) -> dict:
    """The one record of a unit that did not finish: ``exc`` (its traceback kept), or ``error``."""
    c = unit.config
    if exc is not None:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        error, tb = f"{type(exc).__name__}: {exc}", "".join(lines[-6:])
    return new_record(
        suite=unit.suite, scenario=unit.scenario, unit_key=unit.key, config=c, metrics={},
        task=c.get("task"), model=c.get("model"), model_size=str(c.get("model_options", "")),
        corruption=c.get("corruption"), alpha=c.get("alpha"), seed=c.get("seed", -1),
        method=c.get("method"), status="failed", error=error or "unknown error", traceback=tb or "",
    )


def run_unit(unit: Unit, store: RecordStore, ctx: RunContext, *, force: bool = False) -> str:
    """Run one unit and write its records whole: ``done``, ``failed`` or ``skipped``.

    Skipped: its record file exists (unless ``force``), checked before running and again when
    writing, so a unit that another process finished meanwhile is not written twice.
    """
    from qbench import watchdog

    if not force and store.has(unit.key):
        return SKIPPED
    watchdog.unit_started(unit.key)
    try:
        records = unit.run(ctx, str(store.root))
        encode_unit(unit.key, records)  # a NaN or out-of-range metric fails the unit, as a raise does
    except Exception as exc:  # noqa: BLE001  (a failed unit is a result; the sweep goes on)
        records = [failure_record(unit, exc)]
    finally:
        watchdog.unit_ended()
    status = FAILED if any(r.get("status") == "failed" for r in records) else DONE
    if store.write_unit(unit.key, records, overwrite=force) is None:
        return SKIPPED
    return status


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


def order_by_group(units: Sequence[Unit]) -> list[Unit]:
    """Units of one group (same task and model shape) together, in plan order otherwise."""
    order = {g: i for i, g in reversed(list(enumerate(u.group for u in units)))}
    return sorted(units, key=lambda u: order[u.group])


def run_units(
    units: Sequence[Unit], store: RecordStore, ctx: RunContext, *, force: bool = False, progress: bool = True,
    executor: "Executor | None" = None,
) -> RunReport:
    """Run every unit whose record is not in ``store`` yet (all of them with ``force``)."""
    from qbench.executors import Progress, SerialExecutor

    executor = executor or SerialExecutor()
    store.clean_stale_tmp()
    if not force:
        set_aside_unreadable(units, store)
    ordered = order_by_group(units)
    todo = [u for u in ordered if force or not store.has(u.key)]
    todo_keys = {u.key for u in todo}
    skipped = [u.key for u in ordered if u.key not in todo_keys]
    tracker = Progress(todo, skipped=len(ordered) - len(todo), enabled=progress, label=executor.label)
    try:
        executor.run(todo, store, ctx, force=force, tracker=tracker)
    finally:
        tracker.close()
    report = RunReport(skipped=skipped)
    for u in todo:
        getattr(report, {DONE: "done", FAILED: "failed", SKIPPED: "skipped"}[tracker.status.get(u.key, FAILED)]).append(u.key)
    return report
