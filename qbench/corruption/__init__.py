"""Training-data corruption (PROTOCOL section 3): new arrays plus the corrupted indices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qbench.errors import QbenchError
from qbench.seeding import rng


@dataclass(frozen=True)
class Corrupted:
    """A corrupted training set; ``indices`` (sorted) are the samples that were changed."""

    x: np.ndarray
    y: np.ndarray
    indices: np.ndarray


CorruptFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
_CORRUPTIONS: dict[str, CorruptFn] = {}


def register_corruption(name: str) -> Callable[[CorruptFn], CorruptFn]:
    def deco(f: CorruptFn) -> CorruptFn:
        _CORRUPTIONS[name] = f
        return f

    return deco


def list_corruptions() -> list[str]:
    return sorted(_CORRUPTIONS)


def check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (0.0 <= alpha <= 1.0) or alpha != alpha:
        raise QbenchError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha


def corrupted_count(n: int, alpha: float) -> int:
    """floor(alpha * n) rounded down to an even number (study's code)."""
    k = int(np.floor(check_alpha(alpha) * n + 1e-9))
    return k - (k % 2)


def select_indices(y: np.ndarray, alpha: float, generator: np.random.Generator) -> np.ndarray:
    """Half of the count from each half of the class-ordered training set (study's code)."""
    n = len(y)
    k = corrupted_count(n, alpha)
    order = np.argsort(y, kind="stable")  # class 0 first, original order within a class
    first, second = order[: n // 2], order[n // 2 :]
    chosen = np.concatenate(
        [generator.choice(first, k // 2, replace=False), generator.choice(second, k // 2, replace=False)]
    )
    return np.sort(chosen)


def corrupt(x: np.ndarray, y: np.ndarray, kind: str, alpha: float, seed: int) -> Corrupted:
    """Corrupt a fraction ``alpha`` of (x, y) with corruption ``kind``, drawn from the run ``seed``."""
    if kind not in _CORRUPTIONS:
        raise QbenchError(f"unknown corruption {kind!r}; known: {', '.join(list_corruptions())}")
    g = rng(seed, "corruption")
    idx = select_indices(y, alpha, g)
    x_new, y_new = _CORRUPTIONS[kind](x.copy(), y.copy(), idx, g)
    return Corrupted(x=x_new, y=y_new, indices=idx)


from qbench.corruption import feature_randomization, label_flip  # noqa: E402,F401  (registration)
