"""Run one unit: the one place every executor (serial, local pool, Dask worker) and nothing else
calls a suite's ``run``. A unit that raises is recorded as failed with its traceback."""

from __future__ import annotations

import traceback

from qbench.experiment import RunContext
from qbench.records import RecordStore
from qbench.records.build import new_record
from qbench.records.store import encode_unit
from qbench.scenarios import Unit

#: the outcomes of a unit in a run
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


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
        from qbench.suites import get_suite

        records = get_suite(unit.suite).run(unit.config, ctx, str(store.root))
        encode_unit(unit.key, records)  # a NaN or out-of-range metric fails the unit, as a raise does
    except Exception as exc:  # noqa: BLE001  (a failed unit is a result; the sweep goes on)
        records = [failure_record(unit, exc)]
    finally:
        watchdog.unit_ended()
    status = FAILED if any(r.get("status") == "failed" for r in records) else DONE
    if store.write_unit(unit.key, records, overwrite=force) is None:
        return SKIPPED
    return status
