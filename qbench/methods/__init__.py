"""Unlearning methods by name: built-ins register with ``@register_method``; plugins join through the
entry-point group ``qbench.methods`` (``qbench.unlearning_methods``, its older name, still works) or are
named as ``module:attribute`` (one :class:`qbench.registry.Registry`)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

from qbench.errors import QbenchError
from qbench.methods.base import MASK_KEY, UnlearningMethod, bernoulli_kl, mean_bce
from qbench.registry import Registry
from qbench.setup_context import SetupContext

#: the place in tables and figures of a method without a registered order (a plugin's): after the built-ins
LAST = 99
_ORDER: dict[str, int] = {}


def _check_method_class(obj: object, where: str) -> type[UnlearningMethod]:
    if not (inspect.isclass(obj) and issubclass(obj, UnlearningMethod)):
        raise QbenchError(f"{where} is not an unlearning method (a subclass of qbench.methods.UnlearningMethod)")
    if obj.objective is UnlearningMethod.objective:
        raise QbenchError(f"{where} does not implement objective()")
    return obj


def _plugin_class(obj: object, name: str, where: str) -> type[UnlearningMethod]:
    """A plugin's method class, named after its entry point or 'module:attribute' when it sets no name."""
    cls = _check_method_class(obj, where)
    cls.name = cls.name or name
    return cls


def _load_builtins() -> None:
    from qbench.methods import (  # noqa: F401
        bad_teacher,
        finetune,
        gradient_ascent,
        l1_sparse,
        neg_grad_plus,
        random_labels,
        retrain,
        salun,
        scrub,
        scrub_alternating,
    )


METHODS: Registry[type[UnlearningMethod]] = Registry(
    "methods", "method", groups=("qbench.methods", "qbench.unlearning_methods"), unknown="unlearning method",
    check=_plugin_class, load_builtins=_load_builtins)
ENTRY_POINT_GROUP = METHODS.group


def register_method(name: str, *, order: int = LAST) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    """Class decorator: register a built-in method under an explicit, stable name; ``order``: its place in
    tables and figures (smaller first; unranked rows and figure legends follow it)."""

    def deco(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        _check_method_class(cls, name)
        METHODS.add(name, cls)
        cls.name = name
        _ORDER[name] = order
        return cls

    return deco


def list_methods() -> list[str]:
    """Built-in method names, then installed plugins' (their entry-point names; none is imported)."""
    return METHODS.names()


def method_class(name: str) -> type[UnlearningMethod]:
    """A method class by registered name, plugin entry-point name, or 'module:attribute'."""
    return METHODS.get(name)


def method_order(name: str) -> int:
    """A method's place in tables and figures: its registration's ``order``; :data:`LAST` for any other name
    (a plugin's, or one a record names), which is never imported to find out."""
    METHODS.builtins()
    return _ORDER.get(name, LAST)


def method_source(name: str) -> str:
    """'builtin', or where a plugin came from (distribution and version, or module path)."""
    return METHODS.source(name)


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


__all__ = [
    "SetupContext", "UnlearningMethod", "register_method", "get_method", "method_class", "list_methods",
    "method_source", "method_defaults", "method_order", "METHODS", "bernoulli_kl", "mean_bce", "ENTRY_POINT_GROUP", "MASK_KEY",
]
