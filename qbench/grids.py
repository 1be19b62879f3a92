"""Hyperparameter grids for method-sensitivity sweeps (PROTOCOL 4.7): data keyed by registry name.

A grid maps hyperparameter names to value tuples; its points are the Cartesian product, in the
order the parameters were given. ``DEFAULT_GRIDS`` holds the protocol's sweeps, ``QUICK_GRIDS`` the
quick tier's; any method (built-in or plugin) can be swept from the command line with
``--grid [METHOD.]PARAM=SPEC``, where SPEC is a range ``start:stop:step`` (both ends included) or a
comma list ``0,0.2,0.5``. Ranges are computed in decimal arithmetic, so ``0:0.9:0.1`` gives exactly
the ten values 0.0, 0.1, ..., 0.9 (no 0.30000000000000004, no missing or extra end point).
"""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal, InvalidOperation
from typing import Mapping, Sequence

from qbench.errors import QbenchError

Grid = dict[str, tuple[float, ...]]

_TENTHS = tuple(i / 10 for i in range(10))  # 0.0, 0.1, ..., 0.9

#: the protocol's sweeps (PROTOCOL 4.7, the study's code), keyed by method registry name
DEFAULT_GRIDS: dict[str, Grid] = {
    "scrub": {"lambda_kl": _TENTHS, "lambda_fo": _TENTHS},
    "gradient_ascent": {"beta": _TENTHS},
}

#: the quick tier (qbench choice): 3 x 3 and 4 points, each holding the method's default point
QUICK_GRIDS: dict[str, Grid] = {
    "scrub": {"lambda_kl": (0.0, 0.3, 0.6), "lambda_fo": (0.0, 0.2, 0.6)},
    "gradient_ascent": {"beta": (0.0, 0.2, 0.5, 0.8)},
}

MAX_POINTS_PER_PARAM = 10_000


def _number(text: str, what: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise QbenchError(f"{what}: {text.strip()!r} is not a number") from None
    if not d.is_finite():
        raise QbenchError(f"{what}: {text.strip()!r} is not a finite number")
    return d


def parse_values(spec: str, what: str = "--grid") -> tuple[float, ...]:
    """``'0:0.9:0.1'`` -> (0.0, 0.1, ..., 0.9); ``'0,0.2,0.5'`` -> (0.0, 0.2, 0.5); ``'0.3'`` -> (0.3,)."""
    spec = spec.strip()
    if not spec:
        raise QbenchError(f"{what}: no values given (expected start:stop:step or a comma list)")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise QbenchError(f"{what}: a range is start:stop:step, got {spec!r}")
        start, stop, step = (_number(p, what) for p in parts)
        if step <= 0:
            raise QbenchError(f"{what}: the step of {spec!r} must be > 0")
        if stop < start:
            raise QbenchError(f"{what}: the stop of {spec!r} is below its start")
        count = int((stop - start) // step) + 1  # exact in decimal: both ends included when hit
        if count > MAX_POINTS_PER_PARAM:
            raise QbenchError(f"{what}: {spec!r} has {count} values, more than {MAX_POINTS_PER_PARAM}")
        return tuple(float(start + i * step) for i in range(count))
    items = [p for p in spec.split(",")]
    if any(not p.strip() for p in items):
        raise QbenchError(f"{what}: empty value in the list {spec!r}")
    values = tuple(float(_number(p, what)) for p in items)
    if len(set(values)) != len(values):
        raise QbenchError(f"{what}: repeated value in the list {spec!r}")
    return values


def parse_grid_args(items: Sequence[str]) -> dict[str | None, Grid]:
    """``['scrub.lambda_kl=0:0.9:0.1', 'beta=0,0.5']`` -> {'scrub': {'lambda_kl': ...}, None: {'beta': ...}}.

    The method prefix is optional (None: the one method of the run); names are checked later against
    the method's hyperparameters (:func:`check_grid`)."""
    out: dict[str | None, Grid] = {}
    for item in items:
        target, eq, spec = item.partition("=")
        method, _, param = target.strip().rpartition(".")
        if not eq or not param or not param.isidentifier():
            raise QbenchError(f"--grid expects [METHOD.]PARAM=start:stop:step or PARAM=v1,v2,..., got {item!r}")
        grid = out.setdefault(method or None, {})
        if param in grid:
            raise QbenchError(f"--grid: {param!r} given twice{f' for {method}' if method else ''}")
        grid[param] = parse_values(spec, f"--grid {item!r}")
    return out


def numeric_fields(method_cls) -> dict[str, type]:
    """Numeric (int or float, not bool) fields of a method's Hyperparameters dataclass -> their type."""
    out = {}
    for f in dataclasses.fields(method_cls.Hyperparameters):
        kind = None
        if f.default is not dataclasses.MISSING:
            if isinstance(f.default, bool):
                kind = None
            elif isinstance(f.default, int):
                kind = int
            elif isinstance(f.default, float):
                kind = float
        else:
            ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            kind = {"float": float, "int": int}.get(ann)
        if kind is not None:
            out[f.name] = kind
    return out


def check_grid(method_name: str, method_cls, grid: Mapping[str, Sequence[float]]) -> Grid:
    """The grid with names checked against the method's numeric hyperparameters (ints kept integral)."""
    fields = {f.name for f in dataclasses.fields(method_cls.Hyperparameters)}
    numeric = numeric_fields(method_cls)
    if not grid:
        raise QbenchError(f"empty grid for method {method_name!r}")
    out: Grid = {}
    for name, values in grid.items():
        if name not in fields:
            raise QbenchError(f"method {method_name!r} has no hyperparameter {name!r}; "
                              f"numeric ones: {', '.join(sorted(numeric)) or '(none)'}")
        if name not in numeric:
            raise QbenchError(f"hyperparameter {name!r} of method {method_name!r} is not numeric and cannot be "
                              f"swept with --grid (fix it with --set {method_name}.{name}=VALUE)")
        if not values:
            raise QbenchError(f"no values for {method_name}.{name}")
        if numeric[name] is int:
            if any(float(v) != int(v) for v in values):
                raise QbenchError(f"hyperparameter {name!r} of method {method_name!r} is an integer; got {list(values)}")
            out[name] = tuple(int(v) for v in values)
        else:
            out[name] = tuple(float(v) for v in values)
    return out


def grid_points(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Cartesian product, first parameter slowest: [{'lambda_kl': 0.0, 'lambda_fo': 0.0}, ...]."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]
