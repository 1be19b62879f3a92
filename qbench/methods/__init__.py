"""Unlearning methods by name: built-ins register with ``@register_method``; plugins join through the
entry-point group ``qbench.unlearning_methods`` or are named as ``module:attribute``."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
from typing import Callable

from qbench.errors import QbenchError
from qbench.methods.base import UnlearningMethod, bernoulli_kl, mean_bce

ENTRY_POINT_GROUP = "qbench.unlearning_methods"
_BUILTIN: dict[str, type[UnlearningMethod]] = {}
_PLUGINS: dict[str, type[UnlearningMethod]] | None = None
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


def _plugins() -> dict[str, type[UnlearningMethod]]:
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = {}
        if os.environ.get("QBENCH_DISABLE_PLUGIN_AUTOLOAD") != "1":
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                _PLUGINS[ep.name] = _load_entry_point(ep)
    return _PLUGINS


def _load_entry_point(ep) -> type[UnlearningMethod]:
    if ep.name in _BUILTIN:
        raise QbenchError(f"plugin method {ep.name!r} ({ep.value}) clashes with a built-in method")
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
    _load_builtins()
    return sorted(_BUILTIN) + sorted(_plugins())


def method_class(name: str) -> type[UnlearningMethod]:
    """A method class by registered name, plugin entry-point name, or 'module:attribute'."""
    _load_builtins()
    if name in _BUILTIN:
        return _BUILTIN[name]
    if ":" in name:
        return _load_path(name)
    plugins = _plugins()
    if name in plugins:
        return plugins[name]
    raise QbenchError(f"unknown unlearning method {name!r}; known: {', '.join(list_methods())} (or module:attribute)")


def method_source(name: str) -> str:
    """'builtin', or where a plugin came from (distribution and version, or module path)."""
    return "builtin" if name in _BUILTIN else _PLUGIN_SOURCE.get(name, "unknown")


def get_method(name: str, **hyperparameters) -> UnlearningMethod:
    cls = method_class(name)
    try:
        return cls(**hyperparameters)
    except (TypeError, ValueError) as exc:
        raise QbenchError(str(exc)) from None


def _load_builtins() -> None:
    from qbench.methods import finetune, gradient_ascent, retrain, scrub, scrub_alternating  # noqa: F401


__all__ = [
    "UnlearningMethod", "register_method", "get_method", "method_class", "list_methods",
    "method_source", "bernoulli_kl", "mean_bce", "ENTRY_POINT_GROUP",
]
