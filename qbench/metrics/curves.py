"""Metrics of a curve over unlearning steps."""

from __future__ import annotations

import math
from typing import Mapping


def steps_to_reach(curve: Mapping[int, float | None], target: float | None) -> float:
    """First step whose value reaches ``target`` (within 1e-12); NaN if none does, or if there is no
    finite target. Missing values (None, NaN) never reach it."""
    if target is None or not math.isfinite(target):
        return math.nan
    for step in sorted(curve):
        v = curve[step]
        if v is not None and v >= target - 1e-12:
            return float(step)
    return math.nan
