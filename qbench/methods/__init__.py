"""Unlearning methods by name: built-ins register with ``@register_method``; plugins join through the
entry-point group ``qbench.unlearning_methods`` or are named as ``module:attribute``."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
from typing import Any, Callable

from qbench.errors import QbenchError
from qbench.plugins import entry_points, is_path, load_entry_point, load_path
from qbench.methods.base import MASK_KEY, UnlearningMethod, bernoulli_kl, mean_bce

ENTRY_POINT_GROUP = "qbench.unlearning_methods"
_BUILTIN: dict[str, type[UnlearningMethod]] = {}
_ORDER: dict[str, int] = {}
#: the place in tables and figures of a method without a registered order (a plugin's): after the built-ins
LAST = 99
_ENTRY_POINTS: dict[str, importlib.metadata.EntryPoint] | None = None
_PLUGINS: dict[str, type[UnlearningMethod]] = {}
_PLUGIN_SOURCE: dict[str, str] = {}


def register_method(name: str, *, order: int = LAST) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    """Class decorator: register a built-in method under an explicit, stable name; ``order``: its place in
    tables and figures (smaller first; unranked rows and figure legends follow it)."""

    def deco(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        _check_method_class(cls, name)
        if name in _BUILTIN:
            raise ValueError(f"unlearning method {name!r} registered twice")
        cls.name = name
        _BUILTIN[name] = cls
        _ORDER[name] = order
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
        _ENTRY_POINTS = entry_points(ENTRY_POINT_GROUP, _BUILTIN, "method")
    return _ENTRY_POINTS


def _plugin(name: str) -> type[UnlearningMethod]:
    if name not in _PLUGINS:
        ep = _entry_points()[name]
        cls = load_entry_point(ep, "method")
        _check_method_class(cls, f"plugin {ep.name!r} ({ep.value})")
        cls.name = cls.name or ep.name
        dist = getattr(ep, "dist", None)
        _PLUGIN_SOURCE[name] = f"{dist.name}=={dist.version}" if dist else ep.value
        _PLUGINS[name] = cls
    return _PLUGINS[name]


def _load_path(spec: str) -> type[UnlearningMethod]:
    obj = load_path(spec, "method")
    _check_method_class(obj, f"method {spec!r}")
    if not obj.name:
        obj.name = spec
    module_name = spec.partition(":")[0]
    _PLUGIN_SOURCE[spec] = f"{spec} ({getattr(importlib.import_module(module_name), '__file__', '?')})"
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
    if is_path(name):
        return _load_path(name)
    if name in plugins:
        return _plugin(name)
    raise QbenchError(f"unknown unlearning method {name!r}; known: {', '.join(list_methods())} (or module:attribute)")


def method_order(name: str) -> int:
    """A method's place in tables and figures: its registration's ``order``; :data:`LAST` for any other name
    (a plugin's, or one a record names), which is never imported to find out."""
    _load_builtins()
    return _ORDER.get(name, LAST)


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
    "method_source", "method_defaults", "method_order", "bernoulli_kl", "mean_bce", "ENTRY_POINT_GROUP", "MASK_KEY",
]
