"""Unlearning methods by name: built-ins register with ``@register_method``; plugins join through the
entry-point group ``qbench.unlearning_methods`` or are named as ``module:attribute``."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import os
from typing import Any, Callable

from qbench.errors import QbenchError
from qbench.methods.base import MASK_KEY, UnlearningMethod, bernoulli_kl, mean_bce

ENTRY_POINT_GROUP = "qbench.unlearning_methods"
_BUILTIN: dict[str, type[UnlearningMethod]] = {}
_ENTRY_POINTS: dict[str, importlib.metadata.EntryPoint] | None = None
_PLUGINS: dict[str, type[UnlearningMethod]] = {}
_PLUGIN_SOURCE: dict[str, str] = {}


def register_method(name: str) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    """Class decorator: register a built-in method under an explicit, stable name."""

    def deco(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        _check_method_class(cls, name)
        if name in _BUILTIN:
            raise ValueError(f"unlearning method {name!r} registered twice")
        cls.name = name
        _BUILTIN[name] = cls
        return cls

    return deco


def _check_method_class(obj: object, where: str) -> None:
    if not (inspect.isclass(obj) and issubclass(obj, UnlearningMethod)):
        raise QbenchError(f"{where} is not an unlearning method (a subclass of qbench.methods.UnlearningMethod)")
    if obj.objective is UnlearningMethod.objective:
        raise QbenchError(f"{where} does not implement objective()")


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed plugins' entry points by name, checked for clashes from their names alone (no plugin
    is imported), so that every run that resolves a method reports a clash, whichever methods it uses."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        _load_builtins()
        found: dict[str, importlib.metadata.EntryPoint] = {}
        if os.environ.get("QBENCH_DISABLE_PLUGIN_AUTOLOAD") != "1":
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in _BUILTIN:
                    raise QbenchError(f"plugin method {ep.name!r} ({_origin(ep)}) clashes with the built-in method "
                                      f"{ep.name!r}: uninstall the plugin or rename its entry point")
                other = found.get(ep.name)
                if other is not None and _origin(other) != _origin(ep):
                    raise QbenchError(f"two plugins register the method {ep.name!r}: {_origin(other)} and "
                                      f"{_origin(ep)}; uninstall one or rename its entry point")
                found[ep.name] = ep
        _ENTRY_POINTS = found
    return _ENTRY_POINTS


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    """'distribution==version: module:attribute' of an entry point."""
    dist = getattr(ep, "dist", None)
    return f"{dist.name}=={dist.version}: {ep.value}" if dist else ep.value


def _plugin(name: str) -> type[UnlearningMethod]:
    if name not in _PLUGINS:
        _PLUGINS[name] = _load_entry_point(_entry_points()[name])
    return _PLUGINS[name]


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> type[UnlearningMethod]:
    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001  (a broken plugin is bad input, reported in one line)
        raise QbenchError(f"plugin method {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from None
    _check_method_class(cls, f"plugin {ep.name!r} ({ep.value})")
    cls.name = cls.name or ep.name
    dist = getattr(ep, "dist", None)
    _PLUGIN_SOURCE[ep.name] = f"{dist.name}=={dist.version}" if dist else ep.value
    return cls


def _load_path(spec: str) -> type[UnlearningMethod]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise QbenchError(f"method {spec!r}: expected a registered name or 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001
        raise QbenchError(f"method {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise QbenchError(f"method {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    _check_method_class(obj, f"method {spec!r}")
    if not obj.name:
        obj.name = spec
    _PLUGIN_SOURCE[spec] = f"{module_name}:{attr} ({getattr(module, '__file__', '?')})"
    return obj


def list_methods() -> list[str]:
    """Built-in method names, then installed plugins' (their entry-point names; none is imported)."""
    plugins = _entry_points()
    return sorted(_BUILTIN) + sorted(plugins)


def method_class(name: str) -> type[UnlearningMethod]:
    """A method class by registered name, plugin entry-point name, or 'module:attribute'."""
    plugins = _entry_points()
    if name in _BUILTIN:
        return _BUILTIN[name]
    if ":" in name:
        return _load_path(name)
    if name in plugins:
        return _plugin(name)
    raise QbenchError(f"unknown unlearning method {name!r}; known: {', '.join(list_methods())} (or module:attribute)")


def method_source(name: str) -> str:
    """'builtin', or where a plugin came from (distribution and version, or module path)."""
    return "builtin" if name in _BUILTIN else _PLUGIN_SOURCE.get(name, "unknown")


def method_defaults(cls: type[UnlearningMethod]) -> dict[str, Any]:
    """A method's hyperparameters and their defaults (the fields of its frozen dataclass), in order."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls.Hyperparameters):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = dataclasses.MISSING
    return out


def get_method(name: str, **hyperparameters) -> UnlearningMethod:
    cls = method_class(name)
    try:
        return cls(**hyperparameters)
    except (TypeError, ValueError) as exc:
        raise QbenchError(str(exc)) from None


def _load_builtins() -> None:
    from qbench.methods import (  # noqa: F401
        bad_teacher, finetune, gradient_ascent, l1_sparse, neg_grad_plus, random_labels, retrain, salun, scrub,
        scrub_alternating,
    )


__all__ = [
    "UnlearningMethod", "register_method", "get_method", "method_class", "list_methods",
    "method_source", "method_defaults", "bernoulli_kl", "mean_bce", "ENTRY_POINT_GROUP", "MASK_KEY",
]
