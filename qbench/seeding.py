"""One run seed, split into independent named streams (corruption, init, batch order, ...)."""

from __future__ import annotations

import zlib

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
    "identification": 8,
    # the unlearning oracle and the membership-inference attack (PROTOCOL 4.2, protocol 2)
    "oracle_init": 9,
    "oracle_order": 10,
    "mia": 11,
    # the bootstrap of ulira_acc's interval (PROTOCOL 4.9, protocol 3)
    "ulira_bootstrap": 12,
    # the QNN's device noise: shots, Pauli trajectories, readout (PROTOCOL 2.1, protocol 3)
    "noise": 13,
    # the null row's random half-splits of the oracles (PROTOCOL 4.9)
    "null_calibration": 14,
}


def rng(seed: int, stream: str, name: str = "") -> np.random.Generator:
    """A fresh generator for ``stream`` of run ``seed``; same (seed, stream), same numbers. ``name`` splits
    the stream further (the ``method`` stream: one sub-stream per method name)."""
    if stream not in STREAMS:
        raise KeyError(f"unknown seed stream {stream!r}")
    key = (STREAMS[stream],) if not name else (STREAMS[stream], zlib.crc32(name.encode()))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def int_seed(seed: int, stream: str, name: str = "") -> int:
    """A 31-bit integer seed for libraries that want one (Keras initializers)."""
    return int(rng(seed, stream, name).integers(0, 2**31 - 1))
