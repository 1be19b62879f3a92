"""Trained parameters kept beside the records (``OUT/models/<hash>.npz``), so that suites sharing a
trained model (every unlearning method of a seed, every grid point of a sweep) train it once.

A model is keyed by its spec and by the TensorFlow thread count it is trained with: under another
count XLA's reductions round differently and, where the loss is flat, training ends in another model,
so a unit re-run (``qbench verify``) with its recorded count must never be handed a model trained
under another one. Each model's ``info`` says which revision and thread count trained it, and the
records that use it carry that ``info``.

A committed protocol model (:mod:`qbench.models_store`, ``leaderboard/models``) whose spec matches is
used before any of these, on every machine and thread count, and never trained again; its ``info``
names its file and sha256 (``protocol_model``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from qbench.files import atomic_write
from qbench.records.provenance import config_hash
from qbench.records.store import tmp_prefix

_MEMORY: dict[str, tuple[np.ndarray, dict]] = {}


def cached_params(root: str | os.PathLike, spec: dict, compute: Callable[[], tuple[np.ndarray, dict]],
                  also: Sequence[str | os.PathLike] = ()) -> tuple[np.ndarray, dict, bool]:
    """Parameters for ``spec`` from memory, disk (``root``, then the read-only roots ``also``), or ``compute()``
    -> (params, info), kept under ``root``; returns (params, info, trained_now)."""
    from qbench.models_store import find
    from qbench.records.provenance import git_revision
    from qbench.threads import tf_threads

    threads = tf_threads()
    key = config_hash({"spec": spec, "tf_threads": threads})
    if key in _MEMORY:
        return (*_MEMORY[key], False)
    committed = find(spec)  # a committed protocol model: the same bits on every machine and thread count
    if committed is not None:
        _MEMORY[key] = committed
        return (*committed, False)
    path = Path(root) / "models" / f"{key}.npz"
    for found in [path] + [Path(r) / "models" / f"{key}.npz" for r in also]:
        if found.exists():
            with np.load(found, allow_pickle=False) as z:
                if json.loads(str(z["spec"])) == json.loads(json.dumps(spec, default=str)):
                    params, info = z["params"], json.loads(str(z["info"]))
                    _MEMORY[key] = (params, info)
                    return params, info, False
    params, info = compute()
    info = {**info, "trained_by": {"git_revision": git_revision(), "tf_threads": threads}}
    # several processes may train the same model at once (workers of one run): each writes a whole
    # temporary file and renames it, so readers see one complete file (identical content either way)
    atomic_write(path, lambda fh: np.savez(fh, params=params, spec=json.dumps(spec, default=str), info=json.dumps(info)),
                 prefix=tmp_prefix(key))
    _MEMORY[key] = (params, info)
    return params, info, True


def clear_memory() -> None:
    _MEMORY.clear()
