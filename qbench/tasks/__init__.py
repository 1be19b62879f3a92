"""Tasks (PROTOCOL section 1): ``get_task(name)`` returns a :class:`TaskData`.

Registered: ``mnist-1v9`` and ``xxz-12``; ``xxz-<L>`` for any even L from 4 to ``xxz.MAX_QUBITS`` (16)
runs the same code. Each task's module registers its family's protocol facts once (:class:`TaskFamily`:
training recipe and size per model, unlearning learning rate, the suites that run it). A task from
outside the package is a :class:`TaskFamily` with a ``loader``, named as ``module:attribute`` or by an
entry point of the group ``qbench.tasks``.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

from qbench.errors import QbenchError
from qbench.plugins import entry_points, is_path, load_entry_point, load_path
from qbench.tasks.base import _FAMILIES, _TASKS, ENCODINGS, TaskData, TaskFamily, register_family, register_task
from qbench.tasks import mnist, xxz  # noqa: E402,F401  (registration)

__all__ = ["ENCODINGS", "ENTRY_POINT_GROUP", "TaskData", "TaskFamily", "check_task_name", "check_task_options",
           "default_task_options", "family_name", "get_task", "legacy_task_options", "list_tasks", "NamedTask",
           "named_task", "register_family", "register_task", "task_families", "task_info", "task_option_values"]

ENTRY_POINT_GROUP = "qbench.tasks"
_ENTRY_POINTS: dict | None = None
_PLUGINS: dict[str, TaskFamily] = {}


def list_tasks() -> list[str]:
    """Names of the registered tasks, then the installed plugins' (their entry-point names)."""
    return sorted(_TASKS) + sorted(_entry_points())


def task_families() -> list[TaskFamily]:
    """The built-in task families, in registration order."""
    return list(_FAMILIES.values())


def _entry_points() -> dict:
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        _ENTRY_POINTS = entry_points(ENTRY_POINT_GROUP, set(_TASKS) | set(_FAMILIES), "task")
    return _ENTRY_POINTS


def _plugin(name: str) -> TaskFamily | None:
    """The family of a task named from outside the package ('module:attribute' or an entry point), else None."""
    if name in _PLUGINS:
        return _PLUGINS[name]
    if is_path(name):
        obj = load_path(name, "task")
    elif isinstance(name, str) and name in _entry_points():
        obj = load_entry_point(_entry_points()[name], "task")
    else:
        return None
    if not isinstance(obj, TaskFamily) or obj.loader is None:
        raise QbenchError(f"task {name!r} is not a qbench.tasks.TaskFamily with a loader")
    if obj.name in _FAMILIES:
        raise QbenchError(f"task {name!r}: its family {obj.name!r} clashes with the built-in task family "
                          f"{obj.name!r}; rename it")
    _PLUGINS[name] = obj
    return obj


def task_info(name: str) -> TaskFamily:
    """The registered family of task ``name`` (its protocol facts); an unknown task is a QbenchError."""
    plugin = _plugin(name)
    if plugin is not None:
        return plugin
    check_task_name(name)
    return _FAMILIES[name.split("-", 1)[0]]


def family_name(task: str) -> str:
    """The family of ``task``: 'xxz' for xxz-6 (the name up to its first '-'), the registered one of a plugin."""
    try:
        plugin = _plugin(task)
    except QbenchError:  # a plugin that is not installed here: its records still have a name
        plugin = None
    return plugin.name if plugin is not None else task.split("-", 1)[0]


def _builtin(name: str):
    """(loader, fixed options) of a built-in task, else None; a bad xxz chain length is a QbenchError."""
    match = xxz.TASK_NAME_RE.match(name) if isinstance(name, str) else None
    if match:
        n = int(match.group(1))
        if n < 4 or n % 2 or n > xxz.MAX_QUBITS:
            raise QbenchError(f"task {name!r}: xxz-<L> needs an even chain length 4 <= L <= {xxz.MAX_QUBITS} "
                              f"(every state is held as 2**L amplitudes)")
        return xxz.load_xxz, {"n_qubits": n}
    return (_TASKS[name], {}) if isinstance(name, str) and name in _TASKS else None


def _resolve(name: str):
    builtin = _builtin(name)
    if builtin is not None:
        return builtin
    plugin = _plugin(name)
    if plugin is not None:
        return plugin.loader, {}
    known = ", ".join(list_tasks() + [f"xxz-<L> (even L, 4 to {xxz.MAX_QUBITS})"])
    raise QbenchError(f"unknown task {name!r}; known: {known} (or module:attribute)")


def _options_of(name: str) -> tuple[dict[str, tuple], dict]:
    """(option -> allowed values, the protocol's default first; the options a protocol-1 config meant)."""
    loader, _ = _resolve(name)
    return _loader_options(loader)


def _loader_options(loader) -> tuple[dict[str, tuple], dict]:
    return (dict(xxz.OPTIONS), dict(xxz.LEGACY_OPTIONS)) if loader is xxz.load_xxz else ({}, {})


@dataclass(frozen=True)
class NamedTask:
    """What the name of a task in a record says, known without importing anything the name points at."""

    #: 'builtin', or 'installed' (an entry point of ``qbench.tasks``, known from its metadata)
    source: str
    #: the built-in family ('xxz' for xxz-6); None for a plugin's, which is never a built-in one
    family: str | None
    #: what a config without ``task_options`` meant (protocol 1): xxz -> phase=fixed; a plugin has no options
    legacy_options: dict


def named_task(name: str) -> NamedTask | None:
    """The facts the report side reads about task ``name`` of a record: a built-in task's, or an installed
    plugin's from its entry point's metadata (the plugin is not loaded); None for anything else, every
    'module:attribute' name included. Reading records never runs code: nothing is imported here."""
    try:
        builtin = _builtin(name)
    except QbenchError:
        return None
    if builtin is not None:
        return NamedTask("builtin", name.split("-", 1)[0], _loader_options(builtin[0])[1])
    if isinstance(name, str) and not is_path(name) and name in _entry_points():
        return NamedTask("installed", None, {})
    return None


def task_option_values(name: str) -> dict[str, tuple]:
    """Each protocol option of task ``name`` with its allowed values, the default first (xxz: phase)."""
    return _options_of(name)[0]


def default_task_options(name: str) -> dict:
    """The protocol's options of task ``name`` (part of every config that uses it): xxz-<L> -> phase=random."""
    return {k: values[0] for k, values in task_option_values(name).items()}


def legacy_task_options(name: str) -> dict:
    """What a config written before tasks had options (protocol 1) meant: xxz-<L> -> phase=fixed."""
    return _options_of(name)[1]


def check_task_options(name: str, options: dict) -> dict:
    """``options`` if task ``name`` takes each of them with an allowed value, else a QbenchError."""
    allowed = task_option_values(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise QbenchError(f"unknown option(s) {', '.join(unknown)} for task {name!r}; "
                          f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    for key, value in options.items():
        if value not in allowed[key]:
            raise QbenchError(f"task {name!r}: {key} must be one of {', '.join(map(str, allowed[key]))}, got {value!r}")
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
