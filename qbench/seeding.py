"""One run seed, split into independent named streams (corruption, init, batch order, ...)."""

from __future__ import annotations

import numpy as np

# Stable ids: changing one changes every published number, so only ever append.
STREAMS = {
    "corruption": 0,
    "init": 1,
    "order": 2,
    "retrain_init": 3,
    "hessian_subset": 4,
    "hutchinson": 5,
    "method": 6,
    "split": 7,
    # the unlearning oracle and the membership-inference attack (issue 18); ids kept apart from 8-15 so that
    # streams added alongside (methods) cannot take the same id
    "oracle_init": 16,
    "oracle_order": 17,
    "mia": 18,
}


def rng(seed: int, stream: str) -> np.random.Generator:
    """A fresh generator for ``stream`` of run ``seed``; same (seed, stream), same numbers."""
    if stream not in STREAMS:
        raise KeyError(f"unknown seed stream {stream!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(STREAMS[stream],)))


def int_seed(seed: int, stream: str) -> int:
    """A 31-bit integer seed for libraries that want one (Keras initializers)."""
    return int(rng(seed, stream).integers(0, 2**31 - 1))
