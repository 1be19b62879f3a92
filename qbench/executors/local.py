"""``--executor local``: a pool of worker processes on this machine.

``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (TensorFlow does not
survive ``fork``). At most ``workers`` batches are in flight at once, so that when a worker process
dies (the pool then breaks and stops every worker), the batches in flight are exactly those that were
running: their first unfinished unit is run again alone in a fresh pool and recorded as failed if
its worker dies again; the rest of each batch is run again normally.

Step watchdog (:mod:`qbench.watchdog`): each worker keeps a heartbeat file in a private temporary
directory; a worker whose unlearning step runs past its budget is killed, its unit recorded as
failed ("step over budget: N s"), and the batches the broken pool stopped are run again normally.
The serial executor runs units with method steps through one such pool of one worker (kind
``serial``: TensorFlow's own thread count unless ``--threads``), started once and reused.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from qbench.errors import QbenchError
from qbench.executors.base import Batch, Dispatch, Executor, check_rebuildable, make_batches
from qbench.executors.unit import user_interrupted
from qbench.executors.worker import configure_worker, run_batch
from qbench.scenarios import Unit


def default_threads(workers: int) -> int:
    """TensorFlow intra-op threads per worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None, *, watch: bool = True,
                 kind: str = "local"):
        self.workers = int(workers or os.cpu_count() or 1)
        self.kind = kind
        # the serial executor's worker keeps TensorFlow's default, as the serial executor always did
        self.threads = threads if kind == "serial" else (threads or default_threads(self.workers))
        self.watch = watch
        self._pool: ProcessPoolExecutor | None = None
        self._watch_dir: str | None = None

    def check(self, units):
        check_rebuildable(units, self.name)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=configure_worker, initargs=(self.threads, self.kind))

    def run(self, units, store, ctx, *, force, tracker):
        if not units:
            return
        d = Dispatch(store, tracker, force)
        ctx_plain = {"data_dir": ctx.data_dir, "cache_dir": ctx.cache_dir, "step_budget_s": ctx.step_budget_s}
        if self.watch and self._watch_dir is None:
            self._watch_dir = tempfile.mkdtemp(prefix="qbench-watch-")
        stopped = False  # the watchdog killed a worker: the pool's other losses are not suspects
        queue: deque[Batch] = deque(make_batches(units, self.workers))
        solo: deque[Batch] = deque()
        inflight: dict = {}
        procs: dict = {}
        try:
            while queue or solo or inflight:
                if self._pool is None:
                    self._pool = self._new_pool()
                # suspects of a crash run one at a time, alone, so that a death names its unit
                while solo and not inflight:
                    b = d.started(solo.popleft())
                    inflight[self._submit(b, store, ctx_plain, force)] = b
                while not solo and queue and len(inflight) < self.workers:
                    b = d.started(queue.popleft())
                    inflight[self._submit(b, store, ctx_plain, force)] = b
                done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                procs.update(getattr(self._pool, "_processes", None) or {})
                d.poll(inflight.values())
                stopped |= self._stop_overruns(d, inflight.values())
                broken = []
                for f in done:
                    b = inflight.pop(f)
                    try:
                        d.complete(f.result())
                    except BrokenProcessPool:
                        broken.append(b)
                    except QbenchError:  # a full disk, a file-size limit: the run stops in one line
                        raise
                    except BaseException as exc:  # noqa: BLE001  (the batch could not run: its units fail)
                        if user_interrupted(exc):
                            raise
                        d.lose(d.unfinished(b), f"{type(exc).__name__}: {exc}".rstrip(": "))
                if broken:
                    broken.extend(inflight.values())  # the pool stopped every worker
                    inflight.clear()
                    self._pool.shutdown(wait=True, cancel_futures=True)
                    self._pool = None
                    reason = _exit_codes(procs)
                    procs.clear()
                    if stopped:
                        retry = [Batch(rest) for b in broken if (rest := d.unfinished(b))]
                        stopped = False
                    else:
                        retry = [nb for b in broken for nb in d.lost_batch(b, reason)]
                    solo.extend(nb for nb in retry if nb.solo)
                    queue.extendleft(reversed([nb for nb in retry if not nb.solo]))
        except BaseException:
            self.close(wait=False)
            raise

    def _submit(self, batch: Batch, store, ctx_plain: dict, force: bool):
        return self._pool.submit(run_batch, batch.payload(), str(store.root), ctx_plain, force, self.threads,
                                 self.kind, self._watch_dir)

    def _stop_overruns(self, d: Dispatch, batches) -> bool:
        """Kill the workers whose step is over budget and record their units as failed; True if any."""
        if self._watch_dir is None:
            return False
        from qbench import watchdog

        running: dict[str, Unit] = {u.key: u for b in batches for u in b.units}
        stopped = False
        for o in watchdog.overruns(self._watch_dir):
            try:
                os.kill(o.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            watchdog.forget(self._watch_dir, o.pid)
            if o.unit in running:
                d.lose([running[o.unit]], o.error)
            stopped = True
        return stopped

    def close(self, wait: bool = True) -> None:
        """Stop the workers. Called when every batch has returned (they are idle) or, with ``wait=False``
        (an interrupt, an error), mid-unit: a unit being written leaves only a temporary file, removed by
        the next run."""
        if self._pool is not None:
            end_pool(self._pool, wait=wait)
            self._pool = None
        if self._watch_dir is not None:
            shutil.rmtree(self._watch_dir, ignore_errors=True)
            self._watch_dir = None


def end_pool(pool: ProcessPoolExecutor, wait: bool = True) -> None:
    """End a pool's worker processes now and shut it down.

    Called when every task has returned, its workers are idle and their records written: ending them
    with SIGTERM spares the 2-3 s each spends tearing TensorFlow down at exit. Called mid-task (an
    interrupt, an error), it stops the task being run.
    """
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        p.terminate()
    pool.shutdown(wait=wait, cancel_futures=True)


def _exit_codes(procs: dict) -> str:
    """'exit code 1' of the worker(s) that died on their own (not those the broken pool stopped)."""
    codes = sorted({p.exitcode for p in procs.values() if p.exitcode not in (None, 0, -15)})
    if not codes:
        return "the worker process ended abruptly"
    return "exit code " + ", ".join(str(c) if c >= 0 else f"{c} (signal {-c})" for c in codes)
