"""What a method's ``setup`` is handed besides parameters and data: a module of its own, outside
qbench.training (whose package imports TensorFlow), so that ``help(qbench.methods.SetupContext)`` starts
no TensorFlow and prints no log line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class SetupContext:
    """What a method's ``setup`` gets besides parameters and data; the same for every run of a unit."""

    seed: int  # the method's own seed: qbench.seeding.int_seed(unit seed, "method", method name)
    steps: int  # the run's number of steps
    n_params: int  # the model's number of trainable parameters (the length of theta)
    init_params: Callable[[int], np.ndarray]  # a fresh random initialization of the model, from a seed
