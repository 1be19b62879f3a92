"""Partial identification of the poison (PROTOCOL 4.8): which of the corrupted samples a data owner finds.

A fraction ``f`` of the corrupted indices is "identified": the first ``ceil(f * n)`` of one permutation
drawn from the run seed, so the samples known at a smaller fraction are always among those known at a
larger one (nested), and ``f = 1`` identifies every corrupted sample.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from qbench.errors import QbenchError
from qbench.seeding import rng

#: the fractions of the ``corrective`` suite (PROTOCOL 4.8)
FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)


def check_fraction(fraction: float) -> float:
    """``fraction`` as a float in (0, 1]; anything else is bad input."""
    f = float(fraction)
    if not (0.0 < f <= 1.0):  # also refuses NaN
        raise QbenchError(f"known fraction must lie in (0, 1], got {fraction}")
    return f


def check_fractions(fractions: Iterable[float]) -> tuple[float, ...]:
    out = tuple(sorted({check_fraction(f) for f in fractions}))
    if not out:
        raise QbenchError("no known fraction given")
    return out


def identified_count(n: int, fraction: float) -> int:
    """How many of ``n`` corrupted samples a fraction identifies: ceil(f * n), at least one when n > 0."""
    f = check_fraction(fraction)
    return min(n, max(1 if n else 0, math.ceil(f * n - 1e-9)))


def identified(indices: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The identified subset of the corrupted ``indices`` (sorted), nested across fractions for one seed."""
    indices = np.asarray(indices)
    order = rng(seed, "identification").permutation(len(indices))
    return np.sort(indices[order[: identified_count(len(indices), fraction)]])
