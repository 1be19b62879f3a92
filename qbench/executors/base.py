"""What every executor shares: batches of units, progress, and the bookkeeping of units in flight."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tqdm.auto import tqdm

from qbench.executors.unit import DONE, FAILED, SKIPPED
from qbench.records import RecordStore
from qbench.scenarios import Unit


class Progress:
    """Counts of done, failed and skipped units, and a tqdm bar (units to run, ETA) when enabled."""

    def __init__(self, todo: Sequence[Unit], *, skipped: int = 0, enabled: bool = True, label: str = ""):
        self.status: dict[str, str] = {}
        self.already = skipped
        self.bar = tqdm(total=len(todo), disable=not enabled, unit="unit", dynamic_ncols=True,
                        desc=label or None, mininterval=0.5)
        self._postfix()

    def counts(self) -> dict[str, int]:
        vals = list(self.status.values())
        return {"done": vals.count(DONE), "failed": vals.count(FAILED), "skipped": self.already + vals.count(SKIPPED)}

    def _postfix(self) -> None:
        self.bar.set_postfix(self.counts(), refresh=False)

    def describe(self, text: str) -> None:
        self.bar.set_description(text[:60], refresh=False)

    def finish(self, key: str, status: str, *, final: bool = True) -> None:
        """Unit ``key`` ended with ``status``; a non-final status (seen on disk) may be corrected later."""
        new = key not in self.status
        if new or final:
            self.status[key] = status
        if new:
            self.bar.update(1)
        self._postfix()

    def close(self) -> None:
        self._postfix()
        self.bar.close()


@dataclass
class Batch:
    """Units sent to one worker task together; ``solo``: a unit run alone to find who killed a worker."""

    units: list[Unit]
    solo: bool = False
    signatures: dict[str, tuple | None] = field(default_factory=dict)

    def payload(self) -> list[tuple[str, str, dict]]:
        return [(u.suite, u.key, u.config) for u in self.units]


#: units per worker from which a group is shared out among all workers
LONG_GROUP = 8


def make_batches(units: Sequence[Unit], workers: int) -> list[Batch]:
    """Batches of one group each (same task and model shape: a worker compiles each shape once), the
    heaviest first (by ``Unit.cost``, the model's registered ``relative_cost``; equal ones in planned
    order).

    With fewer groups than workers, each group is cut into contiguous pieces so that every worker
    has work. A long group (at least ``LONG_GROUP`` units per worker) is cut into one piece per
    worker as well: one worker alone on the longest group would otherwise finish the sweep long after
    the others went idle (measured: the 110 XXZ-QNN resilience units, 40 s each, on one of two
    workers), and a piece costs only one more compilation of its shape. Heaviest first, because
    workers take batches in order: the quick unlearning tier plans its groups QNN, MLP, QNN, MLP, so
    on two workers the second QNN group (minutes) started only after the first MLP group (seconds to
    a minute) had ended, and the run ended that much later. A group heavier than a worker's fair share
    of the whole run (total weight / workers) is cut into as many pieces as it has shares: the quick
    landscape tier is one QNN group of two units of minutes each and one MLP group of seconds, and
    on two workers the MLP worker went idle while the other ran both QNN units.
    """
    groups: dict[tuple, list[Unit]] = {}
    for u in units:
        groups.setdefault(u.group, []).append(u)
    pieces = max(1, math.ceil(workers / max(1, len(groups))))
    share = sum(u.cost for u in units) / max(1, workers)
    out = []
    for members in groups.values():
        heavy = min(workers, math.ceil(sum(u.cost for u in members) / share - 1e-9)) if share else 1
        k = min(max(pieces, heavy, workers if len(members) >= LONG_GROUP * workers else 1), len(members))
        size, extra = divmod(len(members), k)
        start = 0
        for i in range(k):
            end = start + size + (1 if i < extra else 0)
            out.append(Batch(list(members[start:end])))
            start = end
    return sorted(out, key=lambda b: -sum(u.cost for u in b.units))  # stable: ties keep their order


def _signature(path: os.PathLike) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def file_status(path: os.PathLike) -> str | None:
    """``failed`` if a unit file holds a failed record, else ``done``; None if unreadable."""
    try:
        with open(path) as fh:
            recs = [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError):
        return None
    return FAILED if any(isinstance(r, dict) and r.get("status") == "failed" for r in recs) else DONE


class Dispatch:
    """Bookkeeping of batches run elsewhere: which of their units have finished, seen on disk (the
    workers write the records) or reported back, and failure records for the units that were lost."""

    def __init__(self, store: RecordStore, tracker: Progress, force: bool):
        self.store, self.tracker, self.force = store, tracker, force

    def started(self, batch: Batch) -> Batch:
        batch.signatures = {u.key: _signature(self.store.path(u.key)) for u in batch.units}
        return batch

    def finished(self, unit: Unit) -> bool:
        return unit.key in self.tracker.status

    def poll(self, batches: Iterable[Batch]) -> None:
        """Count the units whose record file appeared (or was replaced) since their batch started."""
        for b in batches:
            for u in b.units:
                if self.finished(u):
                    continue
                path = self.store.path(u.key)
                if _signature(path) != b.signatures.get(u.key):
                    status = file_status(path)
                    if status:
                        self.tracker.finish(u.key, status, final=False)

    def complete(self, results: Iterable[tuple[str, str]]) -> None:
        for key, status in results:
            self.tracker.finish(key, status)

    def unfinished(self, batch: Batch) -> list[Unit]:
        self.poll([batch])
        return [u for u in batch.units if not self.finished(u)]

    def lose(self, units: Iterable[Unit], error: str, tb: str = "") -> None:
        """Record ``units`` as failed with ``error`` (written here, by the parent)."""
        from qbench.executors.unit import failure_record

        for u in units:
            if self.finished(u):
                continue
            written = self.store.write_unit(u.key, [failure_record(u, error=error, tb=tb)], overwrite=self.force)
            self.tracker.finish(u.key, FAILED if written else (file_status(self.store.path(u.key)) or FAILED))

    def lost_batch(self, batch: Batch, reason: str) -> list[Batch]:
        """A batch whose worker died: its first unfinished unit was running (units run in order, each
        written before the next starts). Run alone, it is blamed if the worker dies again; the rest
        of the batch never started and is returned for a new try."""
        rest = self.unfinished(batch)
        if not rest:
            return []
        if batch.solo:
            self.lose(rest[:1], f"worker process died while running this unit ({reason})")
            return [Batch(rest[1:])] if rest[1:] else []
        return [Batch(rest[:1], solo=True)] + ([Batch(rest[1:])] if rest[1:] else [])


class Executor:
    """Runs units into a record store; a context manager (``close`` frees workers)."""

    name = "serial"
    workers = 1

    @property
    def label(self) -> str:
        return self.name if self.workers == 1 else f"{self.name} x{self.workers}"

    def check(self, units: Sequence[Unit]) -> None:
        """Raise QbenchError before any work if this executor cannot run ``units``."""

    def run(self, units: Sequence[Unit], store: RecordStore, ctx, *, force: bool, tracker: Progress) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_rebuildable(units: Sequence[Unit], executor: str) -> None:
    from qbench.errors import QbenchError
    from qbench.suites import get_suite

    for suite in sorted({u.suite for u in units}):
        if get_suite(suite).unit_from_config is None or get_suite(suite).run is None:
            raise QbenchError(f"suite {suite!r} cannot run under --executor {executor} "
                              f"(its units cannot be rebuilt from their configs); use --executor serial")
