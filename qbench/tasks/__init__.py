"""Tasks (PROTOCOL section 1): ``get_task(name)`` returns a :class:`TaskData`.

Registered: ``mnist-1v9`` and ``xxz-12``; ``xxz-<L>`` for any even L from 4 to ``xxz.MAX_QUBITS`` (16)
runs the same code. Each task's module registers its family's protocol facts once (:class:`TaskFamily`:
training recipe and size per model, unlearning learning rate). A task from outside the package is a
:class:`TaskFamily` with a ``loader``, named as ``module:attribute`` or installed as an entry point of the
group ``qbench.tasks`` (:data:`qbench.tasks.base.FAMILIES`, a :class:`qbench.registry.Registry`); an
installed family's tasks go by the names it declares (``TaskFamily.tasks``), found from the entry point's
name alone: the task's own, or its family's (``tfim`` for ``tfim-8``).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

from qbench.errors import QbenchError
from qbench.plugins import is_path
from qbench.tasks import mnist, xxz  # noqa: E402,F401  (registration)
from qbench.tasks.base import _TASKS, ENCODINGS, FAMILIES, TaskData, TaskFamily, register_family, register_task

__all__ = ["ENCODINGS", "ENTRY_POINT_GROUP", "TaskData", "TaskFamily", "check_task_name", "check_task_options",
           "default_task_options", "family_name", "get_task", "legacy_task_options", "list_tasks", "NamedTask",
           "named_task", "plugin_tasks", "register_family", "register_task", "task_families", "task_info",
           "task_option_values", "FAMILIES"]

ENTRY_POINT_GROUP = FAMILIES.group


def list_tasks() -> list[str]:
    """Names of the registered tasks, then the installed plugins' (the tasks each declares; a plugin that
    fails to load, by its entry-point name)."""
    plugins = []
    for entry in sorted(FAMILIES.entry_points()):
        try:
            plugins += list(_declared(entry, FAMILIES.get(entry)))
        except QbenchError:
            plugins.append(entry)
    return sorted(_TASKS) + sorted(dict.fromkeys(plugins))


def plugin_tasks() -> list[str]:
    """The installed plugins' task names (each family is loaded to read them)."""
    return [t for t in list_tasks() if t not in _TASKS]


def task_families() -> list[TaskFamily]:
    """The built-in task families, in registration order."""
    return list(FAMILIES.builtins().values())


def _declared(entry: str, family: TaskFamily) -> tuple[str, ...]:
    """The task names of an installed family: those it declares (its entry-point name if it declares none)."""
    return tuple(family.tasks) or (entry,)


def _entry_of(name: str) -> str | None:
    """The entry point an installed task belongs to, from names alone: its own, else the longest one that
    it extends with '-...' (``tfim`` for ``tfim-8``); None if none."""
    if not isinstance(name, str) or is_path(name):
        return None
    eps = FAMILIES.entry_points()
    if name in eps:
        return name
    return max((e for e in eps if name.startswith(e + "-")), key=len, default=None)


def _plugin(name: str) -> TaskFamily | None:
    """The family of a task named from outside the package ('module:attribute', or a name an installed
    family declares), else None."""
    if is_path(name):
        return FAMILIES.get(name)
    entry = _entry_of(name)
    if entry is None:
        return None
    family = FAMILIES.get(entry)
    declared = _declared(entry, family)
    if name not in declared:
        raise QbenchError(f"unknown task {name!r}: the plugin {entry!r} declares the task(s) {', '.join(declared)}")
    return family


def task_info(name: str) -> TaskFamily:
    """The registered family of task ``name`` (its protocol facts); an unknown task is a QbenchError."""
    plugin = _plugin(name)
    if plugin is not None:
        return plugin
    check_task_name(name)
    return FAMILIES.builtins()[name.split("-", 1)[0]]


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
    if _entry_of(name) is not None:
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
