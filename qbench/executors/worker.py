"""What runs inside a worker process (a local pool's or a Dask worker's): rebuild units from their
configs and run them into the shared output directory.

Units hold closures and are not picklable, so a worker receives plain data per unit: the suite's
name, the unit's key and its ``config``, and rebuilds the unit with the suite's
``unit_from_config``; a rebuilt key that differs from the planned one is a failed unit (the config
would not reproduce the plan). The worker writes each unit's records itself, atomically (see
:mod:`qbench.records.store`), as soon as the unit ends, and returns only ``(key, status)`` pairs.

This module imports no TensorFlow at import time, so that ``configure_worker`` can set the thread
counts before TensorFlow starts.
"""

from __future__ import annotations

import os

#: set in every worker process to the executor's name ("local", "dask"); unset in the main process
WORKER_ENV = "QBENCH_WORKER"

_CONFIGURED: tuple | None = None


def configure_worker(threads: int | None, kind: str | None = None) -> None:
    """Mark this process as a worker and cap TensorFlow's and BLAS's threads at ``threads``.

    See :func:`qbench.threads.configure_threads` (too late once TensorFlow's runtime has started).
    Without ``threads`` the thread counts are left as they are.
    """
    global _CONFIGURED
    if _CONFIGURED == (threads, kind):
        return
    _CONFIGURED = (threads, kind)
    if kind:
        os.environ[WORKER_ENV] = kind
    if kind in ("local", "serial", "verify"):  # verify: a killed `qbench verify` left its worker re-running units
        _exit_with_parent()
    if kind in ("local", "serial"):
        from qbench.executors.unit import ignore_sigint

        ignore_sigint()  # the parent stops its workers on SIGINT (LocalExecutor.close)
    ignore_file_size_signal()
    if threads:
        from qbench.threads import configure_threads

        configure_threads(threads)


def ignore_file_size_signal() -> None:
    """A write past ``ulimit -f`` then fails with EFBIG (reported in one line) instead of SIGXFSZ killing
    the process."""
    import signal
    import threading

    # (a Dask worker runs tasks in threads: only the main thread may set a handler)
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _exit_with_parent() -> None:
    """End this worker when the process that started it dies (e.g. ``kill -9`` of ``qbench run``):
    a pool's idle workers would otherwise wait for work forever. A unit being written at that moment
    leaves only a temporary file, which the next run removes."""
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="qbench-parent-watch", daemon=True).start()


def stub_unit(suite: str, key: str, config: dict):
    """A unit as planned, not rebuilt (for the failure record of a unit that cannot be rebuilt)."""
    from qbench.scenarios import Unit

    return Unit(key, suite, str(config.get("scenario", "")), config)


def rebuild_unit(suite: str, key: str, config: dict):
    """The unit ``config`` describes, rebuilt by its suite; raises if the key does not match."""
    from qbench.suites import get_suite

    s = get_suite(suite)
    if s.unit_from_config is None:
        raise RuntimeError(f"suite {suite!r} cannot rebuild units from their configs (no unit_from_config)")
    unit = s.unit_from_config(config)
    if unit.key != key:
        raise RuntimeError(f"rebuilt unit key {unit.key} differs from the planned key {key}")
    return unit


def run_batch(payload: list[tuple[str, str, dict]], out_dir: str, ctx: dict, force: bool,
              threads: int | None, kind: str, watch_dir: str | None = None) -> list[tuple[str, str]]:
    """Run the units ``payload`` lists ((suite, key, config) each), in order, in this process;
    write each one's records into ``out_dir``; return ``(key, status)`` per unit. ``watch_dir``:
    where this process keeps its heartbeat for the parent's step watchdog (:mod:`qbench.watchdog`)."""
    configure_worker(threads, kind)
    from qbench import watchdog

    watchdog.start(watch_dir)
    from qbench.xla_cache import enable_xla_cache

    enable_xla_cache(ctx.get("cache_dir"))  # a remote Dask worker does not inherit the client's environment
    from qbench.executors.unit import FAILED, failure_record, run_unit, user_interrupted
    from qbench.experiment import RunContext
    from qbench.records import RecordStore

    store, context, out = RecordStore(out_dir), RunContext(**ctx), []
    for suite, key, config in payload:
        try:
            unit = rebuild_unit(suite, key, config)
        except BaseException as exc:  # noqa: BLE001  (recorded as the unit's failure)
            if user_interrupted(exc):
                raise
            if force or not store.has(key):
                store.write_unit(key, [failure_record(stub_unit(suite, key, config), exc)], overwrite=force)
            out.append((key, FAILED))
            continue
        out.append((key, run_unit(unit, store, context, force=force)))
    return out
