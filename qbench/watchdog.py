"""The step watchdog: a unit whose unlearning step runs past its budget is stopped from outside.

A step that hangs (a plugin that sleeps, a kernel that never returns) cannot be interrupted from
inside its own process, so units with method steps run in worker processes (``--executor local``,
and one long-lived worker of the serial executor) and the parent kills a worker whose step is over
budget, records the unit as failed ("step over budget: N s") and goes on with the sweep.

Worker side: :func:`start` gives the process a heartbeat file ``<watch dir>/<pid>.beat``; the
unlearning loop calls :func:`setup_started` before the method's ``setup`` and :func:`step_started`
before every step, and :func:`step_ended` after each. A beat is one
``pwrite`` of a fixed-size JSON line (no rename, no fsync): a few microseconds per step. Without
:func:`start` (a unit run in the main process) every call is a no-op.

Parent side: :func:`overruns` reads the heartbeat files and names the workers to stop.

Step 0 traces and compiles the step as well as running it (up to 31 s in the committed records, for
the MNIST QNN), so it is allowed :data:`FIRST_STEP_EXTRA_S` on top of the budget; a method's
``setup`` (plugin code too, which may hang) is allowed :data:`SETUP_EXTRA_S`.

This module imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

#: extra seconds step 0 may take beyond the budget: it traces and compiles the step
FIRST_STEP_EXTRA_S = 120.0
#: extra seconds a method's ``setup`` may take beyond the budget (it may trace and compile too)
SETUP_EXTRA_S = 120.0
#: the ``step`` of a beat during a method's ``setup``
SETUP = -1
_BEAT_BYTES = 1024

_fd: int | None = None
_unit: str | None = None


def start(watch_dir: str | os.PathLike | None) -> None:
    """Give this process a heartbeat file in ``watch_dir`` (None: no watchdog)."""
    global _fd
    if watch_dir is None or _fd is not None:
        return
    _fd = os.open(Path(watch_dir, f"{os.getpid()}.beat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def _beat(state: dict) -> None:
    if _fd is None:
        return
    line = json.dumps({"pid": os.getpid(), "unit": _unit, **state}).encode()[: _BEAT_BYTES - 1]
    os.pwrite(_fd, line.ljust(_BEAT_BYTES - 1) + b"\n", 0)


def unit_started(key: str) -> None:
    global _unit
    _unit = key
    _beat({})


def unit_ended() -> None:
    global _unit
    _unit = None
    _beat({})


def step_started(step: int, budget_s: float | None) -> None:
    if budget_s is not None:
        _beat({"step": step, "started": time.time(), "budget_s": budget_s})


def setup_started(budget_s: float | None) -> None:
    """A method's ``setup`` starts: watched like a step (plugin code runs in it)."""
    step_started(SETUP, budget_s)


def step_ended() -> None:
    _beat({})


def allowance(step: int, budget_s: float) -> float:
    """Seconds step ``step`` may run before it is stopped."""
    if step == SETUP:
        return budget_s + SETUP_EXTRA_S
    return budget_s + (FIRST_STEP_EXTRA_S if step == 0 else 0.0)


@dataclass(frozen=True)
class Overrun:
    pid: int
    unit: str
    step: int
    elapsed_s: float
    budget_s: float

    @property
    def error(self) -> str:
        if self.step == SETUP:
            return f"setup over budget: {self.budget_s:g} s (stopped after {self.elapsed_s:.1f} s)"
        return f"step over budget: {self.budget_s:g} s (step {self.step} stopped after {self.elapsed_s:.1f} s)"


def overruns(watch_dir: str | os.PathLike, now: float | None = None) -> list[Overrun]:
    """The workers in ``watch_dir`` whose current step has run past its allowance."""
    now = time.time() if now is None else now
    out = []
    for f in Path(watch_dir).glob("*.beat"):
        try:
            state = json.loads(f.read_bytes().strip() or b"{}")
        except (OSError, ValueError):  # a beat being written, or a file just removed: seen next poll
            continue
        started, budget, unit = state.get("started"), state.get("budget_s"), state.get("unit")
        if started is None or budget is None or unit is None:
            continue
        elapsed = now - float(started)
        if elapsed > allowance(int(state["step"]), float(budget)):
            out.append(Overrun(int(state["pid"]), unit, int(state["step"]), elapsed, float(budget)))
    return out


def forget(watch_dir: str | os.PathLike, pid: int) -> None:
    """Remove the heartbeat file of a stopped worker."""
    Path(watch_dir, f"{pid}.beat").unlink(missing_ok=True)
