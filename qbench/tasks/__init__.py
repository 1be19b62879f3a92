"""Tasks (PROTOCOL section 1): ``get_task(name)`` returns a :class:`TaskData`.

Registered: ``mnist-1v9`` and ``xxz-12``; ``xxz-<L>`` for any even L from 4 to ``xxz.MAX_QUBITS`` (16)
runs the same code.
"""

from __future__ import annotations

import inspect
import os

from qbench.errors import QbenchError
from qbench.tasks.base import _TASKS, ENCODINGS, TaskData, register_task
from qbench.tasks import mnist, xxz  # noqa: E402,F401  (registration)

__all__ = ["ENCODINGS", "TaskData", "check_task_name", "default_task_options", "get_task", "legacy_task_options",
           "list_tasks", "register_task"]


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return sorted(_TASKS)


def _resolve(name: str):
    match = xxz.TASK_NAME_RE.match(name) if isinstance(name, str) else None
    if match:
        n = int(match.group(1))
        if n < 4 or n % 2 or n > xxz.MAX_QUBITS:
            raise QbenchError(f"task {name!r}: xxz-<L> needs an even chain length 4 <= L <= {xxz.MAX_QUBITS} "
                              f"(every state is held as 2**L amplitudes)")
        return xxz.load_xxz, {"n_qubits": n}
    if name in _TASKS:
        return _TASKS[name], {}
    known = ", ".join(list_tasks() + [f"xxz-<L> (even L, 4 to {xxz.MAX_QUBITS})"])
    raise QbenchError(f"unknown task {name!r}; known: {known}")


def default_task_options(name: str) -> dict:
    """The protocol's options of task ``name`` (part of every config that uses it): xxz-<L> -> phase=random."""
    loader, _ = _resolve(name)
    return dict(xxz.DEFAULT_OPTIONS) if loader is xxz.load_xxz else {}


def legacy_task_options(name: str) -> dict:
    """What a config written before tasks had options (protocol 1) meant: xxz-<L> -> phase=fixed."""
    loader, _ = _resolve(name)
    return {"phase": "fixed"} if loader is xxz.load_xxz else {}


def check_task_options(name: str, options: dict) -> dict:
    """``options`` if task ``name`` takes each of them as a protocol option, else a QbenchError."""
    known = default_task_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise QbenchError(f"unknown option(s) {', '.join(unknown)} for task {name!r}; "
                          f"allowed: {', '.join(sorted(known)) or 'none'}")
    if "phase" in options and options["phase"] not in xxz.PHASES:
        raise QbenchError(f"task {name!r}: phase must be one of {', '.join(xxz.PHASES)}, got {options['phase']!r}")
    return dict(options)


def check_task_name(name: str) -> str:
    """``name`` if it names a task (without loading any data), else a QbenchError listing the known ones."""
    _resolve(name)
    return name


def get_task(
    name: str,
    *,
    data_seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    **options,
) -> TaskData:
    """Load task ``name`` with data seed ``data_seed``; ``options`` go to the task's loader."""
    loader, fixed = _resolve(name)
    params = inspect.signature(loader).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    allowed = {k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    allowed -= {"data_seed", *fixed}
    unknown = sorted(set(options) - allowed) if not takes_any else sorted(set(options) & set(fixed))
    if unknown:
        raise QbenchError(
            f"unknown option(s) {', '.join(unknown)} for task {name!r}; allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    for key, value in (("data_dir", data_dir), ("cache_dir", cache_dir)):
        if key in allowed or takes_any:
            options[key] = value
        elif value is not None:
            raise QbenchError(f"task {name!r} takes no {key}")
    return loader(data_seed=data_seed, **fixed, **options)
