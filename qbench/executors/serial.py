"""The serial executor: every unit one after the other, in this process."""

from __future__ import annotations

from qbench.executors.base import Executor
from qbench.executors.local import LocalExecutor
from qbench.scenarios import Unit


def has_steps(unit: Unit) -> bool:
    """A unit that runs unlearning steps under a step budget (what the watchdog watches)."""
    return "step_budget_s" in unit.config


class SerialExecutor(Executor):
    """Every unit one after the other (the default): in this process, except units with unlearning
    steps when ``watch``: those run in one worker process, started on first need and reused, which
    the step watchdog can kill (a hung step cannot be stopped from inside its own process)."""

    def __init__(self, threads: int | None = None, *, watch: bool = True):
        self.threads = threads
        self.watch = watch
        self._worker = None

    def run(self, units, store, ctx, *, force, tracker):
        from qbench.executors.unit import run_unit
        from qbench.executors.worker import configure_worker

        watched = [u for u in units if self.watch and has_steps(u)]
        ids = {id(u) for u in watched}
        here = [u for u in units if id(u) not in ids]
        if watched:
            if self._worker is None:
                self._worker = LocalExecutor(1, self.threads, kind="serial")
            tracker.describe("worker")
            self._worker.run(watched, store, ctx, force=force, tracker=tracker)
        if here and self.threads:
            configure_worker(self.threads)
        for unit in here:
            tracker.describe(unit.key.rsplit("-", 1)[0])
            tracker.finish(unit.key, run_unit(unit, store, ctx, force=force))

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
