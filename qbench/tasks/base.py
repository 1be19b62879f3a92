"""The task API: a task is a pure function of (its config, the data seed) returning a TaskData."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qbench.errors import QbenchError

ENCODINGS = ("amplitude", "real")


@dataclass(frozen=True)
class TaskData:
    """Training and validation sets of one binary task.

    ``x_*`` hold the canonical representation: unit-norm amplitude vectors of length 2**n_qubits,
    float32 (real tasks such as MNIST) or complex64 (XXZ ground states). Labels are int64 in {0, 1}.
    Models ask for their input through :meth:`encode`.
    """

    name: str
    n_qubits: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    info: dict

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.x_train)

    def encode(self, x: np.ndarray, encoding: str) -> np.ndarray:
        """Model input for amplitude vectors ``x``: 'amplitude' as is, 'real' as [Re, Im] for complex data."""
        if encoding == "amplitude":
            return x
        if encoding == "real":
            if np.iscomplexobj(x):
                return np.concatenate([x.real, x.imag], axis=1).astype(np.float32)
            return x.astype(np.float32)
        raise QbenchError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")


TaskLoader = Callable[..., TaskData]
_TASKS: dict[str, TaskLoader] = {}


def register_task(name: str) -> Callable[[TaskLoader], TaskLoader]:
    """Register a task loader ``f(data_seed=0, **options) -> TaskData`` under ``name``."""

    def deco(f: TaskLoader) -> TaskLoader:
        if name in _TASKS:
            raise ValueError(f"task {name!r} registered twice")
        _TASKS[name] = f
        return f

    return deco
