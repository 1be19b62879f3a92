"""Run one unit: the one place every executor (serial, local pool, Dask worker) and nothing else
calls a suite's ``run``. A unit that raises is recorded as failed with its traceback."""

from __future__ import annotations

import signal
import threading
import traceback
from contextlib import contextmanager
from typing import Iterator

from qbench.experiment import RunContext
from qbench.files import WriteError
from qbench.records import RecordStore
from qbench.records.build import new_record
from qbench.records.store import encode_unit
from qbench.scenarios import Unit

#: the outcomes of a unit in a run
DONE, FAILED, SKIPPED = "done", "failed", "skipped"

# Whose is a KeyboardInterrupt? The user's (SIGINT: the run stops, its finished units kept) or a unit's
# code's (raised by a plugin: the unit fails, the run goes on). A process that tracks SIGINT knows.
_SIGINT = {"tracked": False, "seen": False}


def ignore_sigint() -> None:
    """In a worker process: SIGINT is for the parent (which stops the workers), so any KeyboardInterrupt
    here was raised by a unit's code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SIGINT.update(tracked=True, seen=False)


@contextmanager
def tracking_sigint() -> Iterator[None]:
    """While running units in this (main) process: a SIGINT raises KeyboardInterrupt as usual, and is noted."""
    if threading.current_thread() is not threading.main_thread() or _SIGINT["tracked"]:
        yield
        return

    def on_sigint(signum, frame):
        _SIGINT["seen"] = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    _SIGINT.update(tracked=True, seen=False)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        _SIGINT.update(tracked=False, seen=False)


def user_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` stops the run (the user's interrupt) rather than fails its unit."""
    if isinstance(exc, KeyboardInterrupt):
        return not _SIGINT["tracked"] or _SIGINT["seen"]
    return not isinstance(exc, (Exception, SystemExit))


def failure_record(unit: Unit, exc: BaseException | None = None, *, error: str | None = None,
                   tb: str | None = None) -> dict:
    """The one record of a unit that did not finish: ``exc`` (its traceback kept), or ``error``."""
    c = unit.config
    if exc is not None:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        error, tb = f"{type(exc).__name__}: {exc}".rstrip(": "), "".join(lines[-6:])
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
    except WriteError:  # a full disk or a file-size limit stops the run (one line, status 2)
        raise
    except BaseException as exc:  # noqa: BLE001  (a failed unit is a result; the sweep goes on)
        if user_interrupted(exc):
            raise
        records = [failure_record(unit, exc)]  # SystemExit or a KeyboardInterrupt of the unit's own too
    finally:
        watchdog.unit_ended()
    status = FAILED if any(r.get("status") == "failed" for r in records) else DONE
    if store.write_unit(unit.key, records, overwrite=force) is None:
        return SKIPPED
    return status
