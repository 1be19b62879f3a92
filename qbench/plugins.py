"""Things named from outside the package: ``module:attribute`` names and entry-point groups
(``qbench.tasks``, ``qbench.models``, ...), each failure one line of bad input; :mod:`qbench.registry`
builds every registry on them. ``QBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point discovery off."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from typing import Collection, Sequence

from qbench.errors import QbenchError


def is_path(name: str) -> bool:
    """Whether ``name`` is a 'module:attribute' name."""
    return isinstance(name, str) and ":" in name


def load_path(spec: str, what: str) -> object:
    """The object ``spec`` ('module:attribute', attributes may be dotted) names; ``what``: 'task', 'model'."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise QbenchError(f"{what} {spec!r}: expected a registered name or 'module:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001  (a broken plugin is bad input, reported in one line)
        raise QbenchError(f"{what} {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise QbenchError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def origin(ep: importlib.metadata.EntryPoint) -> str:
    """'distribution==version: module:attribute' of an entry point."""
    dist = getattr(ep, "dist", None)
    return f"{dist.name}=={dist.version}: {ep.value}" if dist else ep.value


def entry_points(groups: str | Sequence[str], builtin: Collection[str], what: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed entry points of ``groups`` (a group, or a kind's group and its older names) by name
    (none is loaded); a name that clashes with a built-in ``what`` or that two plugins register is a
    QbenchError (one plugin naming the same object under two of the groups is one plugin)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    if os.environ.get("QBENCH_DISABLE_PLUGIN_AUTOLOAD") == "1":
        return found
    for ep in (ep for g in ([groups] if isinstance(groups, str) else groups)
               for ep in importlib.metadata.entry_points(group=g)):
        if ep.name in builtin:
            raise QbenchError(f"plugin {what} {ep.name!r} ({origin(ep)}) clashes with the built-in {what} "
                              f"{ep.name!r}: uninstall the plugin or rename its entry point")
        other = found.get(ep.name)
        if other is not None and origin(other) != origin(ep):
            raise QbenchError(f"two plugins register the {what} {ep.name!r}: {origin(other)} and {origin(ep)}; "
                              f"uninstall one or rename its entry point")
        found[ep.name] = ep
    return found


def load_entry_point(ep: importlib.metadata.EntryPoint, what: str) -> object:
    try:
        return ep.load()
    except Exception as exc:  # noqa: BLE001
        raise QbenchError(f"plugin {what} {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from None
