"""Typed settings: ``--set SUITE.PARAM=VALUE`` becomes a field of the suite's frozen settings dataclass.

A suite declares its settings type where it registers (``Suite.settings``); :func:`build_settings`
checks the names given on the command line against its fields and their values against the fields'
types, so a misspelled or misplaced setting is bad input, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from qbench.errors import QbenchError


def setting_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_settings(cls: type, where: str, given: Mapping[str, Any]) -> Any:
    """``cls(**given)`` with each value converted to its field's type; unknown names or bad values raise
    :class:`QbenchError` naming ``--set WHERE.PARAM``."""
    names = setting_names(cls)
    for key in given:
        if key not in names:
            raise QbenchError(f"--set {where}.{key}: {where} has no setting {key!r}; "
                              f"its settings: {', '.join(names) or '(none)'}")
    hints = typing.get_type_hints(cls)
    values = {k: _coerce(f"--set {where}.{k}", v, hints[k]) for k, v in given.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise QbenchError(str(exc)) from None


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """``value`` (an int, float or str as parsed from the command line) as a value of type ``hint``."""
    allowed = [a for a in typing.get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
    for t in allowed:
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is str:
            return str(value)
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise QbenchError(f"{where} expects {names}, got {value!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)
