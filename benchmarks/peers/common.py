"""Shared inputs of the peer comparison: the same seeded batch, labels and parameters for every engine."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

SHAPES = {"mnist": (10, 6, 256, False), "xxz": (12, 4, 32, True)}  # (qubits, depth, batch, complex input)
SCALE = 5.0


def inputs(shape: str):
    n, d, b, cplx = SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, 2**n))
    if cplx:
        x = x + 1j * rng.normal(size=(b, 2**n))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = (np.arange(b) % 2).astype(np.float64)
    n_params = d * n * 3 + d * n  # RX RY RX per qubit, RZZ on the ring's N pairs, per layer
    theta = rng.normal(scale=0.5, size=n_params)
    return n, d, x, y, theta


def split(theta, n, d):
    """qbench's layout: rotations (D, N, 3) then RZZ angles (D, N)."""
    k = d * n * 3
    return theta[:k].reshape(d, n, 3), theta[k:].reshape(d, n)


def time_step(step: Callable[[], tuple], reps: int) -> tuple[float, float, tuple]:
    """(first-call seconds, median seconds of ``reps`` further calls, last result); ``step`` must
    return only when its result is computed (block on it)."""
    t0 = time.perf_counter()
    out = step()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t0)
    return compile_s, float(np.median(times)), out
