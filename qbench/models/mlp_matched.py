"""The capacity control (PROTOCOL 2.4): an MLP with about as many trainable parameters as the task's QNN.

A fixed random projection maps the input (1024 MNIST amplitudes, or the 8192 [Re, Im] components of an
XXZ state) to ``features`` numbers, then an MLP of the protocol's shape (two ReLU layers, widths in the
MLP's 4:1 ratio) reads them. The projection ``R`` (input_dim x features) has i.i.d. N(0, 1/features)
entries, so ``||x R||`` is about ``||x||`` (Johnson-Lindenstrauss); it is drawn once from
``projection_seed`` (not from the run seed: every seed and every unlearning method sees the same
projection), and it is a constant of the model, not a parameter: no optimizer or unlearning method
touches it and it is not counted as capacity. It costs input_dim * features float32 numbers
(40 KB for MNIST, 393 KB for XXZ).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from qbench.models.mlp import MLP

# Spawn key of the projection under its seed; a constant, so every machine draws the same projection.
_PROJECTION_STREAM = 2401


def projection_matrix(input_dim: int, features: int, seed: int) -> np.ndarray:
    """The fixed (input_dim, features) float32 Gaussian projection, entries N(0, 1/features)."""
    g = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_PROJECTION_STREAM,)))
    return (g.standard_normal((int(input_dim), int(features))) / np.sqrt(features)).astype(np.float32)


class MatchedMLP(MLP):
    """x -> x R (fixed) -> Dense(h1, ReLU) -> Dense(h2, ReLU) -> Dense(1, sigmoid); Keras' default
    initializers, seeded from the run seed like the MLP's."""

    kind = "mlp-matched"

    def __init__(self, features: int = 10, hidden: tuple[int, ...] = (16, 4), projection_seed: int = 0):
        super().__init__(hidden=hidden)
        self.features = features
        self.projection_seed = projection_seed

    def hyperparameters(self) -> dict[str, Any]:
        return {"features": self.features, "hidden": list(self.hidden), "projection_seed": self.projection_seed}

    def size_label(self) -> str:
        return f"p{self.features}-{super().size_label()}"

    def _features(self, input_dim: int) -> tuple[int, Callable[[tf.Tensor], tf.Tensor]]:
        k = int(self.features)
        if k < 1:
            raise ValueError(f"features must be >= 1, got {self.features!r}")
        self.projection_ = projection_matrix(input_dim, k, self.projection_seed)
        r = tf.constant(self.projection_)
        return k, lambda x: tf.matmul(x, r)
