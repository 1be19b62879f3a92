"""``--executor dask``: the same batches on a ``dask.distributed`` cluster.

With ``--scheduler ADDRESS`` qbench connects to a running cluster (e.g. one that ``dask-jobqueue``
started on SLURM or PBS); without it, it starts a ``LocalCluster`` of ``--workers`` processes (one
thread each) for the run. Workers write the records into the output directory themselves, so on a
cluster that directory must be on a filesystem every worker sees. A worker that dies is restarted by
its nanny and its task retried by the scheduler (``distributed.scheduler.allowed-failures``); a
batch that still fails (``KilledWorker``) is handled as in the local executor: its first unfinished
unit runs alone and is recorded as failed if it kills a worker again, the rest runs again.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque

from qbench.errors import QbenchError
from qbench.executors.base import Batch, Dispatch, Executor, check_rebuildable, make_batches
from qbench.executors.worker import run_batch


def require_distributed():
    try:
        import distributed
    except ImportError:
        raise QbenchError("--executor dask needs dask.distributed: pip install 'qbench[dask]'") from None
    return distributed


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None, threads: int | None = None):
        require_distributed()
        self.scheduler = scheduler
        self.workers = int(workers or (1 if scheduler else os.cpu_count() or 1))
        if threads is None and not scheduler:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
        self.threads = threads  # None on a remote cluster: its workers' own settings
        self.client = self.cluster = None

    def check(self, units):
        check_rebuildable(units, self.name)

    def __enter__(self):
        self._connect()
        return self

    def _connect(self) -> None:
        if self.client is not None:
            return
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise QbenchError(f"cannot connect to the Dask scheduler {self.scheduler!r}: {exc}") from None
            return
        # a worker that kills its process twice fails its task rather than being retried 3 times
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)

    def _n_workers(self) -> int:
        try:
            n = len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001  (only sizes the batches)
            n = 0
        return max(n, self.workers)

    def run(self, units, store, ctx, *, force, tracker):
        if not units:
            return
        from distributed import KilledWorker

        self._connect()
        d = Dispatch(store, tracker, force)
        ctx_plain = {"data_dir": ctx.data_dir, "cache_dir": ctx.cache_dir, "step_budget_s": ctx.step_budget_s}
        queue: deque[Batch] = deque(make_batches(units, self._n_workers()))
        inflight: dict = {}
        try:
            while queue or inflight:
                # a solo batch (the suspect of a dead worker) runs while nothing else is in flight
                if not any(b.solo for b in inflight.values()):
                    while queue and not queue[0].solo:
                        self._submit(d.started(queue.popleft()), inflight, store, ctx_plain, force)
                    if queue and not inflight:
                        self._submit(d.started(queue.popleft()), inflight, store, ctx_plain, force)
                time.sleep(0.5)
                d.poll(inflight.values())
                for f in [f for f in inflight if f.done()]:
                    b = inflight.pop(f)
                    if f.status == "finished":
                        d.complete(f.result())
                        continue
                    exc = f.exception() if f.status == "error" else None
                    if isinstance(exc, KilledWorker):
                        retry = d.lost_batch(b, "a Dask worker died (KilledWorker)")
                        queue.extendleft(reversed(retry))
                    else:
                        what = f"{type(exc).__name__}: {exc}" if exc else f"Dask task {f.status}"
                        d.lose(d.unfinished(b), what)
        except BaseException:
            for f in inflight:
                f.cancel()
            raise

    def _submit(self, b: Batch, inflight: dict, store, ctx_plain: dict, force: bool) -> None:
        fut = self.client.submit(run_batch, b.payload(), str(store.root), ctx_plain, force,
                                 self.threads, self.name, pure=False)
        inflight[fut] = b

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
